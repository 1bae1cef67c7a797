package store

import (
	"github.com/ivr-gateway/ivr"

	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/redis/go-redis/v9"
)

func testToken() Token {
	return Token{
		AccessToken: "eyJhbGciOiJSUzI1NiJ9.secret-access-token",
		TokenType:   "Bearer",
		Scope:       "patient.read",
		Resource:    "https://mcp.example.org/",
		ExpiresAt:   time.Now().Add(15 * time.Minute).Truncate(time.Second),
	}
}

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, s *Store, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		sid := newSid()
		if _, err := s.Token(ctx, sid); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Token before write: err = %v, want ErrNotFound", err)
		}
		want := testToken()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerified}, 0, SaveExtras{Token: &want})
		got, err := s.Token(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
			t.Errorf("Token (-want +got):\n%s", diff)
		}
		// The hash has exactly the contract's fields, the access token sealed.
		m, err := rdb.HGetAll(ctx, prefix+"token:{"+sid+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		sealed := m["access_token"]
		if strings.Contains(sealed, want.AccessToken) || strings.Contains(sealed, "secret") || len(sealed) < len(want.AccessToken) {
			t.Errorf("access_token field is not sealed: %d bytes", len(sealed))
		}
		wantHash := map[string]string{
			"access_token": sealed, "token_type": "Bearer", "scope": want.Scope,
			"resource": want.Resource, "expires_at": want.ExpiresAt.UTC().Format(time.RFC3339),
		}
		if diff := cmp.Diff(wantHash, m); diff != "" {
			t.Errorf("token hash (-want +got):\n%s", diff)
		}
		if err := s.DeleteToken(ctx, sid); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Token(ctx, sid); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Token after delete: err = %v, want ErrNotFound", err)
		}
	})
}

// TestTokenSealedAtRest is issue 9 item 6 written as attacks on the token
// hash by someone who can read and write Redis but has no session key.
func TestTokenSealedAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldKey, newKey, otherKey := bytes.Repeat([]byte{0x11}, 32), bytes.Repeat([]byte{0x22}, 32), bytes.Repeat([]byte{0x33}, 32)
	rdb, prefix := redistest.Client(t)
	before := newStoreOn(t, rdb, prefix, func(o *Options) { o.SessionKey = oldKey })
	rotated := newStoreOn(t, rdb, prefix, func(o *Options) { o.SessionKey, o.PreviousSessionKeys = newKey, [][]byte{oldKey} })
	forgot := newStoreOn(t, rdb, prefix, func(o *Options) { o.SessionKey, o.PreviousSessionKeys = newKey, [][]byte{otherKey} })
	tokenKey := func(sid string) string { return prefix + "token:{" + sid + "}" }
	callKey := func(sid string) string { return prefix + "call:{" + sid + "}" }
	verified := func(s *Store) (string, Token) {
		t.Helper()
		sid, tok := newSid(), testToken()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerified}, 0, SaveExtras{Token: &tok})
		return sid, tok
	}
	hget := func(key, field string) string {
		t.Helper()
		v, err := rdb.HGet(ctx, key, field).Result()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	notFoundSealBroken := func(t *testing.T, s *Store, sid string) {
		t.Helper()
		tok, err := s.Token(ctx, sid)
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrSealBroken) || tok.AccessToken != "" {
			t.Fatalf("Token = %v, %v; want nothing, ErrNotFound and ErrSealBroken", tok, err)
		}
	}

	t.Run("rotation: sealed under the old key, opened after rotation", func(t *testing.T) {
		sid, want := verified(before)
		got, err := rotated.Token(ctx, sid)
		if err != nil || got.AccessToken != want.AccessToken {
			t.Fatalf("Token after rotation = %v, %v; want the token", got, err)
		}
		// Answers too.
		asid := newSid()
		mustSave(t, before, Session{CallSid: asid, Step: 1, Phase: ivr.PhaseCollecting, Answers: []byte("Maria|1234")}, 0, SaveExtras{})
		if sess, err := rotated.Load(ctx, asid); err != nil || string(sess.Answers) != "Maria|1234" {
			t.Fatalf("Load after rotation = %v, %v; want the answers", sess, err)
		}
	})

	t.Run("rotation: sealing uses the new key only", func(t *testing.T) {
		sid, _ := verified(rotated)
		notFoundSealBroken(t, before, sid)
	})

	t.Run("a key that is neither current nor previous opens nothing", func(t *testing.T) {
		sid, _ := verified(before)
		notFoundSealBroken(t, forgot, sid)
		asid := newSid()
		mustSave(t, before, Session{CallSid: asid, Step: 1, Phase: ivr.PhaseCollecting, Answers: []byte("Maria|1234")}, 0, SaveExtras{})
		if _, err := forgot.Load(ctx, asid); !errors.Is(err, ErrSealBroken) {
			t.Fatalf("Load under a forgotten key: err = %v, want ErrSealBroken", err)
		}
	})

	t.Run("a token copied to another call does not open", func(t *testing.T) {
		victim, _ := verified(rotated)
		attacker := newSid()
		mustSave(t, rotated, Session{CallSid: attacker, Step: 1, Phase: ivr.PhaseVerifying}, 0, SaveExtras{})
		fields, err := rdb.HGetAll(ctx, tokenKey(victim)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.HSet(ctx, tokenKey(attacker), fields).Err(); err != nil {
			t.Fatal(err)
		}
		notFoundSealBroken(t, rotated, attacker)
		// WaitToken keeps waiting rather than handing it out.
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if tok, err := rotated.WaitToken(wctx, attacker); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitToken = %v, %v; want to wait until the deadline", tok, err)
		}
		// EndCall hands nothing out to revoke either.
		if tok, _ := rotated.EndCall(ctx, attacker, 0); tok != nil {
			t.Fatalf("EndCall returned %v from another call's sealed token", tok)
		}
	})

	t.Run("sealed answers moved into the token field do not open, nor the reverse", func(t *testing.T) {
		sid, _ := verified(rotated)
		other := newSid()
		mustSave(t, rotated, Session{CallSid: other, Step: 1, Phase: ivr.PhaseCollecting, Answers: []byte("x")}, 0, SaveExtras{})
		// Same call SID for both fields, so only the label tells them apart.
		mustSave(t, rotated, Session{CallSid: sid, Step: 2, Phase: ivr.PhaseCollecting, Answers: []byte("eyJ-answers")}, 1, SaveExtras{})
		answers, token := hget(callKey(sid), "answers"), hget(tokenKey(sid), "access_token")
		if err := rdb.HSet(ctx, tokenKey(sid), "access_token", answers).Err(); err != nil {
			t.Fatal(err)
		}
		notFoundSealBroken(t, rotated, sid)
		if err := rdb.HSet(ctx, callKey(sid), "answers", token).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := rotated.Load(ctx, sid); !errors.Is(err, ErrSealBroken) {
			t.Fatalf("Load with the token in the answers field: err = %v, want ErrSealBroken", err)
		}
	})

	t.Run("a tampered or plaintext token does not open", func(t *testing.T) {
		sid, want := verified(rotated)
		raw := []byte(hget(tokenKey(sid), "access_token"))
		raw[len(raw)-1] ^= 1
		for _, v := range [][]byte{raw, []byte(want.AccessToken), {sealVersion}} {
			if err := rdb.HSet(ctx, tokenKey(sid), "access_token", v).Err(); err != nil {
				t.Fatal(err)
			}
			notFoundSealBroken(t, rotated, sid)
		}
	})
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	tok := testToken()
	sess := Session{CallSid: "CA1", Step: 1, Phase: ivr.PhaseCollecting, Answers: []byte("Maria|Garcia|1980-01-05|1234")}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime}))
	log.Info("t", "token", tok, "session", sess)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s %v %+v %#v", tok, tok, tok, tok, sess, sess, sess) +
		fmt.Sprint(&tok, &sess)
	for _, secret := range []string{tok.AccessToken, "secret", "Maria", "Garcia", "1980", "1234"} {
		if strings.Contains(out, secret) {
			t.Errorf("output contains a secret: %s", out)
		}
	}
}

func TestEndCall(t *testing.T) {
	t.Parallel()
	eachMode(t, testEndCall)
}

func testEndCall(t *testing.T, s *Store, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()

	t.Run("ends the session and hands back the token", func(t *testing.T) {
		sid := newSid()
		tok := testToken()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting, Answers: []byte("1234")}, 0, SaveExtras{})
		mustSave(t, s, Session{CallSid: sid, Step: 2, Phase: ivr.PhaseVerifying, Answers: []byte("1234")}, 1, SaveExtras{Token: &tok})
		got, err := s.EndCall(ctx, sid, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || got.AccessToken != tok.AccessToken {
			t.Fatalf("EndCall token = %v, want the stored one", got)
		}
		if n, _ := rdb.Exists(ctx, prefix+"token:{"+sid+"}").Result(); n != 0 {
			t.Errorf("token key still exists after EndCall with no grace")
		}
		sess, err := s.Load(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if sess.Phase != ivr.PhaseEnded || sess.Answers != nil || sess.Step != 3 {
			t.Errorf("session after EndCall = %v, want phase ended, no answers, step 3", sess)
		}
		// A webhook that loaded step 2 before the call ended loses.
		if err := s.Save(ctx, Session{CallSid: sid, Step: 3, Phase: ivr.PhaseCollecting}, 2, SaveExtras{}); !errors.Is(err, ErrConflict) {
			t.Errorf("late Save: err = %v, want ErrConflict", err)
		}
		// Twilio repeats status callbacks: nothing more happens.
		if got, err := s.EndCall(ctx, sid, 0); !errors.Is(err, ErrAlreadyEnded) || got != nil {
			t.Errorf("second EndCall = %v, %v; want nil, ErrAlreadyEnded", got, err)
		}
		if sess, _ := s.Load(ctx, sid); sess.Step != 3 {
			t.Errorf("second EndCall changed the step to %d", sess.Step)
		}
		if n := countEvents(t, rdb, prefix, sid, ivr.EventEnded); n != 1 {
			t.Errorf("%d ended events, want 1", n)
		}
	})

	t.Run("grace keeps the token a while", func(t *testing.T) {
		sid := newSid()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerified}, 0, SaveExtras{Token: new(testToken())})
		got, err := s.EndCall(ctx, sid, 30*time.Second)
		if err != nil || got == nil {
			t.Fatalf("EndCall = %v, %v", got, err)
		}
		ttl, err := rdb.PTTL(ctx, prefix+"token:{"+sid+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > 30*time.Second {
			t.Errorf("token PTTL after grace = %v, want within (0, 30s]", ttl)
		}
	})

	t.Run("no session", func(t *testing.T) {
		sid := newSid()
		got, err := s.EndCall(ctx, sid, 0)
		if !errors.Is(err, ErrAlreadyEnded) || got != nil {
			t.Fatalf("EndCall = %v, %v; want nil, ErrAlreadyEnded", got, err)
		}
		if n := countEvents(t, rdb, prefix, sid, ivr.EventEnded); n != 0 {
			t.Errorf("%d ended events for a call without a session, want 0", n)
		}
	})
}

func countEvents(t *testing.T, rdb redis.UniversalClient, prefix, sid string, event ivr.Event) int {
	t.Helper()
	entries, err := rdb.XRange(context.Background(), prefix+"events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Values["call_sid"] == sid && e.Values["event"] == string(event) {
			n++
		}
	}
	return n
}

// TestKeysHoldNoPersonalData runs a whole call and checks every key name and
// every event under the prefix for the caller's number and answers.
func TestKeysHoldNoPersonalData(t *testing.T) {
	t.Parallel()
	eachMode(t, testKeysHoldNoPersonalData)
}

func testKeysHoldNoPersonalData(t *testing.T, s *Store, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	const number = "+15550100123"
	personal := []string{number, "Maria", "Garcia", "1980-01-05", "01051980", "1234", "987654"}
	answers := []byte(strings.Join(personal[1:], "|"))
	sid := newSid()

	if _, err := s.AllowCaller(ctx, number); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseCollecting, Answers: answers}, 0, SaveExtras{})
	mustSave(t, s, Session{CallSid: sid, Step: 2, Phase: ivr.PhaseVerifying, Answers: answers}, 1, SaveExtras{})
	tok := testToken()
	mustSave(t, s, Session{CallSid: sid, Step: 3, Phase: ivr.PhaseVerified, VerifiedAt: time.Now()}, 2,
		SaveExtras{Event: ivr.EventVerified, Token: &tok})
	if _, err := s.EndCall(ctx, sid, time.Minute); err != nil {
		t.Fatal(err)
	}

	keys := redistest.MustKeys(t, rdb, prefix+"*")
	if len(keys) != 4 {
		t.Errorf("keys = %q, want call, token, events, caller", keys)
	}
	for _, k := range keys {
		assertNoPersonalData(t, k, personal...)
		if !strings.HasPrefix(k, prefix) {
			t.Errorf("key %q outside the prefix", k)
		}
	}
	entries, err := rdb.XRange(ctx, prefix+"events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		assertNoPersonalData(t, fmt.Sprint(e.Values), personal...)
	}
	call, err := rdb.HGetAll(ctx, prefix+"call:{"+sid+"}").Result()
	if err != nil {
		t.Fatal(err)
	}
	assertNoPersonalData(t, fmt.Sprint(call), personal...)
	// The token outlives the call by the grace period: sealed.
	hash, err := rdb.HGetAll(ctx, prefix+"token:{"+sid+"}").Result()
	if err != nil || len(hash) == 0 {
		t.Fatalf("token hash = %v, %v; want it kept for the grace period", hash, err)
	}
	assertNoPersonalData(t, fmt.Sprint(hash), append(personal, tok.AccessToken)...)
}

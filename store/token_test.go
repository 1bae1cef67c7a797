package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ivr-gateway/ivr/internal/redistest"
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
	s, rdb, prefix := newStore(t)
	ctx := context.Background()
	sid := newSid()
	if _, err := s.Token(ctx, sid); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Token before write: err = %v, want ErrNotFound", err)
	}
	want := testToken()
	mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: PhaseVerified}, 0, SaveExtras{Token: &want})
	got, err := s.Token(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
		t.Errorf("Token (-want +got):\n%s", diff)
	}
	// The hash has exactly the contract's fields.
	m, err := rdb.HGetAll(ctx, prefix+"token:{"+sid+"}").Result()
	if err != nil {
		t.Fatal(err)
	}
	wantHash := map[string]string{
		"access_token": want.AccessToken, "token_type": "Bearer", "scope": want.Scope,
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
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	tok := testToken()
	sess := Session{CallSid: "CA1", Step: 1, Phase: PhaseCollecting, Answers: []byte("Maria|Garcia|1980-01-05|1234")}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("t", "token", tok, "session", sess)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s %v %+v %#v", tok, tok, tok, tok, sess, sess, sess) +
		fmt.Sprint(&tok, &sess)
	for _, secret := range []string{tok.AccessToken, "secret", "Maria", "Garcia", "1980", "1234"} {
		if strings.Contains(out, secret) {
			t.Errorf("output contains a secret: %s", out)
		}
	}
}

func TestWaitToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("returns at once when the token exists", func(t *testing.T) {
		t.Parallel()
		s, _, _ := newStore(t)
		sid := newSid()
		want := testToken()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: PhaseVerified}, 0, SaveExtras{Token: &want})
		got, err := s.WaitToken(ctx, sid)
		if err != nil || got.AccessToken != want.AccessToken {
			t.Fatalf("WaitToken = %v, %v; want the stored token", got, err)
		}
	})

	t.Run("wakes on a write from another instance", func(t *testing.T) {
		t.Parallel()
		var rt RoundTripCounter
		rdbA, prefix := redistest.Client(t)
		rdbA.AddHook(&rt)
		waiter := newStoreOn(t, rdbA, prefix)
		rdbB, _ := redistest.Client(t)
		writer := newStoreOn(t, rdbB, prefix)

		sid, other := newSid(), newSid()
		type result struct {
			tok Token
			err error
		}
		done := make(chan result, 1)
		go func() {
			tok, err := waiter.WaitToken(ctx, sid)
			done <- result{tok, err}
		}()
		// Write once the waiter is subscribed and has checked the key, so
		// the wake-up path is the one under test (either order is correct).
		waitFor(t, func() bool {
			n, err := rdbB.PubSubNumSub(ctx, prefix+"notify").Result()
			return err == nil && n[prefix+"notify"] >= 1 && rt.Count() >= 1
		})
		// A token for another call must not end the wait.
		mustSave(t, writer, Session{CallSid: other, Step: 1, Phase: PhaseVerified}, 0, SaveExtras{Token: new(testToken())})
		want := testToken()
		mustSave(t, writer, Session{CallSid: sid, Step: 1, Phase: PhaseVerified}, 0, SaveExtras{Token: &want})
		select {
		case r := <-done:
			if r.err != nil || r.tok.AccessToken != want.AccessToken {
				t.Fatalf("WaitToken = %v, %v; want the written token", r.tok, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("WaitToken did not wake up")
		}
	})

	t.Run("many waiters share one subscription", func(t *testing.T) {
		t.Parallel()
		s, rdb, prefix := newStore(t)
		sid := newSid()
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for range 10 {
			wg.Go(func() {
				_, err := s.WaitToken(ctx, sid)
				errs <- err
			})
		}
		waitFor(t, func() bool {
			s.notify.mu.Lock()
			defer s.notify.mu.Unlock()
			return len(s.notify.waiters[sid]) == 10
		})
		waitFor(t, func() bool {
			n, err := rdb.PubSubNumSub(ctx, prefix+"notify").Result()
			return err == nil && n[prefix+"notify"] >= 1
		})
		n, err := rdb.PubSubNumSub(ctx, prefix+"notify").Result()
		if err != nil || n[prefix+"notify"] != 1 {
			t.Errorf("subscribers on the notify channel = %v, %v; want 1", n, err)
		}
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: PhaseVerified}, 0, SaveExtras{Token: new(testToken())})
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("WaitToken: %v", err)
			}
		}
		s.notify.mu.Lock()
		left := len(s.notify.waiters)
		s.notify.mu.Unlock()
		if left != 0 {
			t.Errorf("%d waiter sets left registered", left)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		s, _, _ := newStore(t)
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := s.WaitToken(ctx, newSid()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitToken: err = %v, want DeadlineExceeded", err)
		}
	})

	t.Run("close wakes waiters", func(t *testing.T) {
		t.Parallel()
		s, _, _ := newStore(t)
		sid := newSid()
		done := make(chan error, 1)
		go func() {
			_, err := s.WaitToken(ctx, sid)
			done <- err
		}()
		waitFor(t, func() bool {
			s.notify.mu.Lock()
			defer s.notify.mu.Unlock()
			return len(s.notify.waiters[sid]) == 1
		})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitToken after Close: err = %v, want ErrClosed", err)
		}
		if _, err := s.WaitToken(ctx, sid); !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitToken on a closed Store: err = %v, want ErrClosed", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})

	t.Run("recovers a wake-up lost while reconnecting", func(t *testing.T) {
		t.Parallel()
		opt, err := redis.ParseURL(redistest.URL())
		if err != nil {
			t.Fatal(err)
		}
		prefix := redistest.Prefix()
		opt.ClientName = "storetest-" + strings.TrimSuffix(prefix, ":")
		rdb := redis.NewClient(opt)
		t.Cleanup(func() {
			redistest.Flush(rdb, prefix)
			rdb.Close()
		})
		s := newStoreOn(t, rdb, prefix)
		sid := newSid()
		done := make(chan error, 1)
		go func() {
			_, err := s.WaitToken(ctx, sid)
			done <- err
		}()
		waitFor(t, func() bool {
			s.notify.mu.Lock()
			defer s.notify.mu.Unlock()
			return len(s.notify.waiters[sid]) == 1
		})
		waitFor(t, func() bool {
			n, err := rdb.PubSubNumSub(ctx, prefix+"notify").Result()
			return err == nil && n[prefix+"notify"] == 1
		})
		// Kill only this test's subscription connection, then write the
		// token while it is down: the publish is lost, the resubscribe
		// must make the waiter look again.
		killOwnPubSub(t, rdb, opt.ClientName)
		writer := newStoreOn(t, rdb, prefix)
		mustSave(t, writer, Session{CallSid: sid, Step: 1, Phase: PhaseVerified}, 0, SaveExtras{Token: new(testToken())})
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("WaitToken: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("WaitToken did not recover after the subscription was killed")
		}
	})
}

// killOwnPubSub kills the subscription connections named name.
func killOwnPubSub(t *testing.T, rdb redis.UniversalClient, name string) {
	t.Helper()
	ctx := context.Background()
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for line := range strings.SplitSeq(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, " sub=1 ") {
			continue
		}
		for f := range strings.FieldsSeq(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d subscription connections, want 1", killed)
	}
}

// waitFor polls cond until it holds (the test's own timeout bounds it).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

func TestEndCall(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := newStore(t)
	ctx := context.Background()

	t.Run("ends the session and hands back the token", func(t *testing.T) {
		sid := newSid()
		tok := testToken()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: PhaseCollecting, Answers: []byte("1234")}, 0, SaveExtras{})
		mustSave(t, s, Session{CallSid: sid, Step: 2, Phase: PhaseVerifying, Answers: []byte("1234")}, 1, SaveExtras{Token: &tok})
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
		if sess.Phase != PhaseEnded || sess.Answers != nil || sess.Step != 3 {
			t.Errorf("session after EndCall = %v, want phase ended, no answers, step 3", sess)
		}
		// A webhook that loaded step 2 before the call ended loses.
		if err := s.Save(ctx, Session{CallSid: sid, Step: 3, Phase: PhaseCollecting}, 2, SaveExtras{}); !errors.Is(err, ErrConflict) {
			t.Errorf("late Save: err = %v, want ErrConflict", err)
		}
		// Twilio repeats status callbacks: nothing more happens.
		if got, err := s.EndCall(ctx, sid, 0); !errors.Is(err, ErrAlreadyEnded) || got != nil {
			t.Errorf("second EndCall = %v, %v; want nil, ErrAlreadyEnded", got, err)
		}
		if sess, _ := s.Load(ctx, sid); sess.Step != 3 {
			t.Errorf("second EndCall changed the step to %d", sess.Step)
		}
		if n := countEvents(t, rdb, prefix, sid, EventEnded); n != 1 {
			t.Errorf("%d ended events, want 1", n)
		}
	})

	t.Run("grace keeps the token a while", func(t *testing.T) {
		sid := newSid()
		mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: PhaseVerified}, 0, SaveExtras{Token: new(testToken())})
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
		if n := countEvents(t, rdb, prefix, sid, EventEnded); n != 0 {
			t.Errorf("%d ended events for a call without a session, want 0", n)
		}
	})
}

func countEvents(t *testing.T, rdb redis.UniversalClient, prefix, sid, event string) int {
	t.Helper()
	entries, err := rdb.XRange(context.Background(), prefix+"events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Values["call_sid"] == sid && e.Values["event"] == event {
			n++
		}
	}
	return n
}

// TestKeysHoldNoPersonalData runs a whole call and checks every key name and
// every event under the prefix for the caller's number and answers.
func TestKeysHoldNoPersonalData(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := newStore(t)
	ctx := context.Background()
	const number = "+15550100123"
	personal := []string{number, "Maria", "Garcia", "1980-01-05", "01051980", "1234", "987654"}
	answers := []byte(strings.Join(personal[1:], "|"))
	sid := newSid()

	if _, err := s.AllowCaller(ctx, number); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, Session{CallSid: sid, Step: 1, Phase: PhaseCollecting, Answers: answers}, 0, SaveExtras{})
	mustSave(t, s, Session{CallSid: sid, Step: 2, Phase: PhaseVerifying, Answers: answers}, 1, SaveExtras{})
	mustSave(t, s, Session{CallSid: sid, Step: 3, Phase: PhaseVerified, VerifiedAt: time.Now()}, 2,
		SaveExtras{Event: EventVerified, Token: new(testToken())})
	if _, err := s.EndCall(ctx, sid, time.Minute); err != nil {
		t.Fatal(err)
	}

	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
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
}

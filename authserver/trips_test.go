package authserver

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRightAnswerWritesOnce: a right first answer makes three round trips
// (the client's rate, the counters' read, and one write of the session,
// already done, with the code and the cleared counters), and the session
// it answers with is stored, bound to the client, with its TTL.
func TestRightAnswerWritesOnce(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	rec := &tripRecorder{}
	as.rdb.AddHook(rec)
	_, ch := pkce(t)
	if err := as.rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	rec.take()
	a := as.challenge(t, kbaForm(ch, "Maria", "Garcia", "1980-01-05", "1234"))
	if a.status != 200 || a.str("authorization_code") == "" {
		t.Fatalf("right answer: %d %s", a.status, a.raw)
	}
	want := []string{"incr expire", "zrange zrange zrange", "hset pexpire set del del"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("round trips (-want +got):\n%s", diff)
	}
	sess := a.str("auth_session")
	key := as.Server.key("sess", mac(as.Server.hashKey, macSession, sess))
	h, err := as.rdb.HGetAll(context.Background(), key).Result()
	if err != nil || h["st"] != stateDone || h["c"] != testClient {
		t.Errorf("session %v (%v), want done and bound to %s", h, err, testClient)
	}
	if ttl := as.rdb.PTTL(context.Background(), key).Val(); ttl <= 0 || ttl > sessionTTL {
		t.Errorf("session TTL %v, want (0, %v]", ttl, sessionTTL)
	}
}

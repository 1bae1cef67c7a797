package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
)

// cmdLog is a go-redis hook that records the arguments of every command the
// client sends, so a test can say which fields a method reads.
type cmdLog struct {
	mu   sync.Mutex
	cmds [][]string
}

func (l *cmdLog) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (l *cmdLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.add(cmd)
		return next(ctx, cmd)
	}
}

func (l *cmdLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			l.add(c)
		}
		return next(ctx, cmds)
	}
}

func (l *cmdLog) add(cmd redis.Cmder) {
	args := make([]string, len(cmd.Args()))
	for i, a := range cmd.Args() {
		args[i] = fmt.Sprint(a)
	}
	l.mu.Lock()
	l.cmds = append(l.cmds, args)
	l.mu.Unlock()
}

func (l *cmdLog) take() [][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.cmds
	l.cmds = nil
	return c
}

func TestStatus(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := context.Background()
	verifiedAt := time.Date(2026, 11, 26, 1, 2, 3, 456_000_000, time.UTC)
	tests := []struct {
		phase    ivr.Phase
		attempts int
		verified time.Time
	}{
		{ivr.PhaseCollecting, 0, time.Time{}},
		{ivr.PhaseVerifying, 1, time.Time{}},
		{ivr.PhaseVerified, 2, verifiedAt},
		{ivr.PhaseFailed, 3, time.Time{}},
		{ivr.PhaseEnded, 1, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.phase), func(t *testing.T) {
			t.Parallel()
			sid := newSid()
			mustSave(t, s, Session{
				CallSid: sid, Step: 1, Phase: tt.phase, Attempts: tt.attempts, VerifiedAt: tt.verified,
				Dialog: []byte(`{"node":"dob"}`), Answers: []byte("Maria|Garcia|1980-01-05|1234"),
			}, 0, SaveExtras{})
			got, err := s.Status(ctx, sid)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			want := ivr.CallStatus{CallSid: sid, Phase: tt.phase, Attempts: tt.attempts, VerifiedAt: tt.verified}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	s, rdb, _ := newStore(t)
	ctx := context.Background()

	for _, sid := range []string{"", "CA{x}", "CA:1", "../CA1", strings.Repeat("a", 65)} {
		if _, err := s.Status(ctx, sid); !errors.Is(err, ErrInvalid) {
			t.Errorf("Status(%q): err = %v, want ErrInvalid", sid, err)
		}
	}
	if _, err := s.Status(ctx, newSid()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status of an unknown call: err = %v, want ErrNotFound", err)
	}

	// Fields overwritten behind the store's back are an error, never a
	// made-up status and never "not found" (which would read as "no call").
	corrupt := []struct {
		name   string
		fields []any
	}{
		{"bad step", []any{fStep, "x", fPhase, string(ivr.PhaseCollecting)}},
		{"zero step", []any{fStep, "0", fPhase, string(ivr.PhaseCollecting)}},
		{"unknown phase", []any{fStep, "1", fPhase, "hacked"}},
		{"no phase", []any{fStep, "1"}},
		{"bad attempts", []any{fStep, "1", fPhase, string(ivr.PhaseVerifying), fAttempts, "-1"}},
		{"bad verified_at", []any{fStep, "1", fPhase, string(ivr.PhaseVerified), fVerifiedAt, "yesterday"}},
	}
	for _, c := range corrupt {
		sid := newSid()
		if err := rdb.HSet(ctx, s.callKey(sid), c.fields...).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := s.Status(ctx, sid)
		if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want a corruption error", c.name, err)
		}
	}

	// A hash without a step is not a session (nothing the store writes
	// lacks one).
	sid := newSid()
	if err := rdb.HSet(ctx, s.callKey(sid), fPhase, string(ivr.PhaseVerified)).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Status(ctx, sid); !errors.Is(err, ErrNotFound) {
		t.Errorf("hash without step: err = %v, want ErrNotFound", err)
	}
}

// TestStatusReadsNoAnswers: Status must not read the sealed answers (issue
// 11: the agent API reads a call's status without unsealing the caller's
// answers). It works on a session sealed under another key, where Load
// fails, and the one command it sends names only the non-sealed fields.
func TestStatusReadsNoAnswers(t *testing.T) {
	t.Parallel()
	_, rdb, prefix := newStore(t)
	other := newStoreOn(t, rdb, prefix, func(o *Options) { o.SessionKey = bytes.Repeat([]byte{7}, 32) })
	ctx := context.Background()
	sid := newSid()
	mustSave(t, other, Session{CallSid: sid, Step: 3, Phase: ivr.PhaseVerifying, Attempts: 1, Answers: []byte("Maria|Garcia")}, 0, SaveExtras{})

	log := &cmdLog{}
	rdb.AddHook(log)
	s := newStoreOn(t, rdb, prefix)
	if _, err := s.Load(ctx, sid); !errors.Is(err, ErrSealBroken) {
		t.Fatalf("Load under the other key: err = %v, want ErrSealBroken (the premise of this test)", err)
	}
	log.take()
	got, err := s.Status(ctx, sid)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if want := (ivr.CallStatus{CallSid: sid, Phase: ivr.PhaseVerifying, Attempts: 1}); got != want {
		t.Errorf("Status = %+v, want %+v", got, want)
	}
	want := [][]string{{"hmget", s.callKey(sid), "step", "phase", "attempts", "verified_at"}}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("commands sent by Status (-want +got):\n%s", diff)
	}
}

func BenchmarkStatus(b *testing.B) {
	s, _, _ := newStore(b)
	ctx := context.Background()
	sid := newSid()
	mustSave(b, s, Session{CallSid: sid, Step: 1, Phase: ivr.PhaseVerified, Attempts: 1, VerifiedAt: time.Now()}, 0, SaveExtras{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Status(ctx, sid); err != nil {
			b.Fatal(err)
		}
	}
}

package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSocketClaim(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	sid := newSid()
	if ok, err := s.ClaimSocket(ctx, sid, "a", time.Minute); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := s.ClaimSocket(ctx, sid, "b", time.Minute); err != nil || ok {
		t.Fatalf("second claim while held: %v %v, want refused", ok, err)
	}
	if err := s.RenewSocket(ctx, sid, "b", time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("renew by another owner: %v, want ErrLeaseLost", err)
	}
	if err := s.RenewSocket(ctx, sid, "a", time.Minute); err != nil {
		t.Fatalf("renew by the owner: %v", err)
	}
	if err := s.ReleaseSocket(ctx, sid, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.ClaimSocket(ctx, sid, "b", time.Minute); ok {
		t.Fatal("a release by another owner freed the claim")
	}
	if err := s.ReleaseSocket(ctx, sid, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ClaimSocket(ctx, sid, "b", 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("claim after release: %v %v", ok, err)
	}
	time.Sleep(120 * time.Millisecond)
	if ok, err := s.ClaimSocket(ctx, sid, "c", time.Minute); err != nil || !ok {
		t.Fatalf("claim after the holder's TTL ran out: %v %v", ok, err)
	}
	if _, err := s.ClaimSocket(ctx, "CA{x}", "a", time.Minute); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad sid: %v", err)
	}
}

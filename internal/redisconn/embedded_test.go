package redisconn

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmbeddedKeysExpire: a key's TTL runs out on the wall clock, as on a
// real Redis. It fails on a plain miniredis, whose keys live until
// FastForward.
func TestEmbeddedKeysExpire(t *testing.T) {
	mr, rdb, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	defer rdb.Close()
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		set  func() error
	}{
		{"SET PX", func() error { return rdb.Set(ctx, "k-set", "v", 50*time.Millisecond).Err() }},
		{"INCR then PEXPIRE (a rate window)", func() error {
			if err := rdb.Incr(ctx, "k-incr").Err(); err != nil {
				return err
			}
			return rdb.PExpire(ctx, "k-incr", 50*time.Millisecond).Err()
		}},
		{"HSET then PEXPIREAT (a session)", func() error {
			if err := rdb.HSet(ctx, "k-hash", "step", "1").Err(); err != nil {
				return err
			}
			return rdb.PExpireAt(ctx, "k-hash", time.Now().Add(50*time.Millisecond)).Err()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.set(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := rdb.Exists(ctx, "k-set", "k-incr", "k-hash").Val(); n != 3 {
		t.Fatalf("%d of 3 keys exist right after they were set", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rdb.Exists(ctx, "k-set", "k-incr", "k-hash").Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("keys with a 50 ms TTL still exist after 5 s: %v", rdb.Keys(ctx, "*").Val())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEmbeddedIsTheOnlyMiniredis: every in-process Redis outside tests comes
// from Embedded, so none is started without clock-driven expiry.
func TestEmbeddedIsTheOnlyMiniredis(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || d.Name() == "embedded.go" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, call := range []string{"miniredis.Run(", "miniredis.NewMiniRedis(", "miniredis.RunT("} {
			if strings.Contains(string(b), call) {
				t.Errorf("%s calls %s: use redisconn.Embedded, which makes keys expire", path, call)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/redistest"
)

// leakPatterns are the keys this package's code writes outside the
// per-test prefixes of internal/redistest (which are deleted when each test
// ends): `ivr replay` in process, under replay:<random>:.
var leakPatterns = []string{"replay:*"}

// TestMain checks, for the whole package, that its tests leave no key
// behind in the shared Redis (issue 15 item 6), and removes the binary the
// process tests share.
func TestMain(m *testing.M) {
	before := countKeys()
	code := m.Run()
	if ivrBin.dir != "" {
		os.RemoveAll(ivrBin.dir)
	}
	if after := countKeys(); before >= 0 && after > before {
		fmt.Fprintf(os.Stderr, "cmd/ivr tests left %d keys matching %v in %s\n", after-before, leakPatterns, redistest.URL())
		code = 1
	}
	os.Exit(code)
}

// countKeys counts the keys of leakPatterns; -1 when Redis cannot be
// asked (the tests that need it fail on their own).
func countKeys() int {
	opt, err := redis.ParseURL(redistest.URL())
	if err != nil {
		return -1
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	for _, p := range leakPatterns {
		keys, err := redistest.Keys(ctx, rdb, p)
		if err != nil {
			return -1
		}
		n += len(keys)
	}
	return n
}

// ivrBin is the ivr binary, built once for the tests that run it as a
// process.
var ivrBin struct {
	once      sync.Once
	dir, path string
	err       error
	out       []byte
}

// buildIvr returns the path of the ivr binary, building it on first use.
func buildIvr(t *testing.T) string {
	t.Helper()
	ivrBin.once.Do(func() {
		if ivrBin.dir, ivrBin.err = os.MkdirTemp("", "ivr-bin-"); ivrBin.err != nil {
			return
		}
		ivrBin.path = filepath.Join(ivrBin.dir, "ivr")
		ivrBin.out, ivrBin.err = exec.Command("go", "build", "-o", ivrBin.path, ".").CombinedOutput()
	})
	if ivrBin.err != nil {
		t.Fatalf("go build: %v\n%s", ivrBin.err, ivrBin.out)
	}
	return ivrBin.path
}

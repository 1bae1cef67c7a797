package logsink

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink counts the writes it gets, as a file descriptor would count system
// calls.
type sink struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *sink) snapshot() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

func TestBatchesLines(t *testing.T) {
	out := &sink{}
	w := New(out, time.Hour) // no timed flush during the test
	log := slog.New(w.Handler(slog.NewJSONHandler(w, nil)))
	for i := range 100 {
		log.Info("webhook", "n", i)
	}
	if _, n := out.snapshot(); n != 0 {
		t.Fatalf("%d writes for 100 info lines before a flush, want 0", n)
	}
	log.Warn("something an operator must see now")
	got, n := out.snapshot()
	if n != 1 || strings.Count(got, "\n") != 101 || !strings.Contains(got, "must see now") {
		t.Fatalf("after a warning: %d writes, %d lines; want everything in one write", n, strings.Count(got, "\n"))
	}
	log.Info("last")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := out.snapshot(); !strings.HasSuffix(got, "\"msg\":\"last\"}\n") {
		t.Fatalf("Close did not write the last line: %q", got[len(got)-60:])
	}
	w.Write([]byte("after close\n"))
	if got, _ := out.snapshot(); !strings.HasSuffix(got, "after close\n") {
		t.Fatal("a write after Close was held back")
	}
}

func TestFlushesOnTimeAndInOrder(t *testing.T) {
	out := &sink{}
	w := New(out, 10*time.Millisecond)
	defer w.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				fmt.Fprintf(w, "g%d %04d\n", g, i)
			}
		}()
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond)
	got, _ := out.snapshot()
	last := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		var g string
		var i int
		if _, err := fmt.Sscanf(line, "%s %d", &g, &i); err != nil {
			t.Fatalf("torn line %q", line)
		}
		if prev, ok := last[g]; ok && i != prev+1 {
			t.Fatalf("%s: %d after %d", g, i, prev)
		}
		last[g] = i
	}
	if len(last) != 8 {
		t.Fatalf("%d writers seen", len(last))
	}
	for g, i := range last {
		if i != 499 {
			t.Errorf("%s: last line %d, want 499", g, i)
		}
	}
}

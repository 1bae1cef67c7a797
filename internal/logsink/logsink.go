// Package logsink buffers log output so the hot path does not pay a write
// system call per line: lines are appended to a buffer that a background
// goroutine writes out every FlushEvery (or sooner when it fills), and a
// record at warning level or above is written out at once, so what an
// operator needs in a hurry is never held back.
//
// A process that dies abruptly loses at most FlushEvery of info lines;
// Close writes out everything.
package logsink

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultFlushEvery = 100 * time.Millisecond
	DefaultMaxBuffer  = 64 << 10
)

// Writer is a buffered, concurrency-safe io.Writer over w.
type Writer struct {
	w     io.Writer
	max   int
	mu    sync.Mutex
	buf   []byte
	spare []byte
	wmu   sync.Mutex // serialises writes to w, in order
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// New starts a Writer that writes to w every flushEvery (0: the default).
func New(w io.Writer, flushEvery time.Duration) *Writer {
	if flushEvery <= 0 {
		flushEvery = DefaultFlushEvery
	}
	s := &Writer{w: w, max: DefaultMaxBuffer, buf: make([]byte, 0, 8<<10), quit: make(chan struct{}), done: make(chan struct{})}
	go s.run(flushEvery)
	return s
}

func (s *Writer) run(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.Flush()
		case <-s.quit:
			s.Flush()
			return
		}
	}
}

// Write appends p (one log line) to the buffer; a full buffer is written
// out in the caller's goroutine.
func (s *Writer) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.buf = append(s.buf, p...)
	full := len(s.buf) >= s.max
	s.mu.Unlock()
	if full {
		s.Flush()
	}
	return len(p), nil
}

// Flush writes out what is buffered.
func (s *Writer) Flush() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	out := s.buf
	s.buf, s.spare = s.spare[:0], nil
	s.mu.Unlock()
	if len(out) == 0 {
		s.mu.Lock()
		s.spare = out
		s.mu.Unlock()
		return nil
	}
	_, err := s.w.Write(out)
	s.mu.Lock()
	if s.spare == nil && cap(out) <= 4*s.max {
		s.spare = out[:0]
	}
	s.mu.Unlock()
	return err
}

// Close writes out everything and stops the background writer. Writes
// after Close are written at once.
func (s *Writer) Close() error {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	s.mu.Lock()
	s.max = 0
	s.mu.Unlock()
	return s.Flush()
}

// Handler wraps a slog.Handler writing to s so that records at warning
// level and above are written out at once.
func (s *Writer) Handler(h slog.Handler) slog.Handler { return urgent{h, s} }

type urgent struct {
	slog.Handler
	s *Writer
}

func (u urgent) Handle(ctx context.Context, r slog.Record) error {
	err := u.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		u.s.Flush()
	}
	return err
}

func (u urgent) WithAttrs(as []slog.Attr) slog.Handler { return urgent{u.Handler.WithAttrs(as), u.s} }
func (u urgent) WithGroup(g string) slog.Handler       { return urgent{u.Handler.WithGroup(g), u.s} }

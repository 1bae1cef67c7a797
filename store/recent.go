package store

import (
	"crypto/sha256"
	"sync"
)

// recent remembers, per call, the session hash as this instance last read
// or wrote it (the fields as they are in Redis: the answers sealed, never
// in clear), so that the next step of a call this instance is serving needs
// no read, and writes only the fields that changed. It is a cache in the
// strict sense: the compare-and-set on the step decides whether it was
// right. A call's next webhook that lands on another instance, or a
// concurrent change, simply costs the read it would have cost anyway.
//
// Two generations of maps bound its memory without per-entry bookkeeping:
// entries move to the old generation when the current one fills, and the
// old generation is dropped at the next turn.
type recent struct {
	mu       sync.Mutex
	cur, old map[string]*cached
	max      int
}

// cached is one call's hash as last seen at step.
type cached struct {
	step   int64
	fields map[string]string
	// answersSum is the SHA-256 of the answers in clear (zero when none),
	// so a save can tell unchanged answers without opening the sealed ones.
	answersSum [32]byte
}

func newRecent(max int) *recent {
	return &recent{cur: make(map[string]*cached), old: make(map[string]*cached), max: max}
}

// get returns the call's entry if it is at step.
func (r *recent) get(sid string, step int64) *cached {
	if r == nil || step <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cur[sid]
	if c == nil {
		c = r.old[sid]
	}
	if c == nil || c.step != step {
		return nil
	}
	return c
}

func (r *recent) put(sid string, c *cached) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cur) >= r.max/2 {
		r.old, r.cur = r.cur, make(map[string]*cached, r.max/2)
	}
	delete(r.old, sid)
	r.cur[sid] = c
}

func (r *recent) drop(sid string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cur, sid)
	delete(r.old, sid)
}

// setField changes one field of a cached call in place (a lease renewal,
// which does not move the step).
func (r *recent) setField(sid, field, value string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range []map[string]*cached{r.cur, r.old} {
		if c := m[sid]; c != nil {
			f := make(map[string]string, len(c.fields))
			for k, v := range c.fields {
				f[k] = v
			}
			f[field] = value
			m[sid] = &cached{step: c.step, fields: f, answersSum: c.answersSum}
		}
	}
}

func answersSum(plain []byte) [32]byte {
	if len(plain) == 0 {
		return [32]byte{}
	}
	return sha256.Sum256(plain)
}

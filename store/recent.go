package store

import (
	"crypto/sha256"
	"maps"

	"github.com/ivr-gateway/ivr/internal/genmap"
)

// recent remembers, per call, the session hash as this instance last read
// or wrote it (the fields as they are in Redis: the answers sealed, never
// in clear), so that the next step of a call this instance is serving needs
// no read, and writes only the fields that changed. It is a cache in the
// strict sense: the compare-and-set on the step decides whether it was
// right. A call's next webhook that lands on another instance, or a
// concurrent change, simply costs the read it would have cost anyway.
//
// Its memory is bounded by internal/genmap's two generations.
type recent struct {
	calls *genmap.Map[string, *cached]
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
	return &recent{calls: genmap.New[string, *cached](max)}
}

// get returns the call's entry if it is at step.
func (r *recent) get(sid string, step int64) *cached {
	if r == nil || step <= 0 {
		return nil
	}
	c, _ := r.calls.Get(sid)
	if c == nil || c.step != step {
		return nil
	}
	return c
}

func (r *recent) put(sid string, c *cached) {
	if r != nil {
		r.calls.Put(sid, c)
	}
}

func (r *recent) drop(sid string) {
	if r != nil {
		r.calls.Delete(sid)
	}
}

// setField changes one field of a cached call (a lease renewal, which
// does not move the step). The entry is replaced, not changed in place: a
// caller may be reading the old one.
func (r *recent) setField(sid, field, value string) {
	if r == nil {
		return
	}
	r.calls.Update(sid, func(c *cached) *cached {
		f := make(map[string]string, len(c.fields)+1)
		maps.Copy(f, c.fields)
		f[field] = value
		return &cached{step: c.step, fields: f, answersSum: c.answersSum}
	})
}

func answersSum(plain []byte) [32]byte {
	if len(plain) == 0 {
		return [32]byte{}
	}
	return sha256.Sum256(plain)
}

// Package genmap is a concurrency-safe map whose memory is bounded by two
// generations instead of per-entry bookkeeping: entries go into the
// current generation; when it holds half the bound it becomes the old one
// and the previous old one is dropped. A lookup finds an entry of either
// generation, so an entry lives for at least half the bound's worth of
// later insertions. It serves caches whose misses cost a read, never a
// wrong answer: the gateway's recent calls (store) and the reference AS's
// signed tokens (authserver).
package genmap

import "sync"

// Map is a two-generation map of at most max entries.
type Map[K comparable, V any] struct {
	mu       sync.Mutex
	cur, old map[K]V
	half     int
}

// New returns an empty Map that holds at most max entries.
func New[K comparable, V any](max int) *Map[K, V] {
	return &Map[K, V]{cur: make(map[K]V), old: make(map[K]V), half: max / 2}
}

// Get returns k's value, from either generation.
func (m *Map[K, V]) Get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.old[k]
	return v, ok
}

// Put sets k's value in the current generation, turning generations over
// first when the current one is full.
func (m *Map[K, V]) Put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cur) >= m.half {
		m.old, m.cur = m.cur, make(map[K]V, m.half)
	}
	delete(m.old, k)
	m.cur[k] = v
}

// Delete removes k.
func (m *Map[K, V]) Delete(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cur, k)
	delete(m.old, k)
}

// Update replaces k's value by f of it, in the generation that holds it;
// an absent k stays absent.
func (m *Map[K, V]) Update(k K, f func(V) V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, g := range []map[K]V{m.cur, m.old} {
		if v, ok := g[k]; ok {
			g[k] = f(v)
		}
	}
}

// Len returns how many entries are held.
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cur) + len(m.old)
}

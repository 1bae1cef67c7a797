package genmap

import (
	"fmt"
	"sync"
	"testing"
)

func TestGenerations(t *testing.T) {
	tests := []struct {
		name       string
		max, puts  int
		remembered []bool // per key 0..puts-1
	}{
		{"under the bound", 4, 2, []bool{true, true}},
		{"one turn-over", 4, 3, []bool{true, true, true}},
		{"oldest dropped", 4, 5, []bool{false, false, true, true, true}},
		{"bound of 10", 10, 12, []bool{false, false, false, false, false, true, true, true, true, true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New[string, int](tt.max)
			for i := range tt.puts {
				m.Put(fmt.Sprint(i), i)
			}
			for i, want := range tt.remembered {
				v, ok := m.Get(fmt.Sprint(i))
				if ok != want || (ok && v != i) {
					t.Errorf("key %d: %d %v, want remembered = %v", i, v, ok, want)
				}
			}
			if n := m.Len(); n > tt.max {
				t.Errorf("%d entries, bound %d", n, tt.max)
			}
		})
	}
}

func TestPutDeleteUpdate(t *testing.T) {
	m := New[string, int](4)
	m.Put("a", 1)
	m.Put("b", 2)
	m.Put("c", 3) // a and b are now the old generation
	m.Update("a", func(v int) int { return v * 10 })
	m.Update("missing", func(int) int { t.Error("Update ran f for an absent key"); return 0 })
	if v, ok := m.Get("a"); !ok || v != 10 {
		t.Errorf("a after Update: %d %v, want 10", v, ok)
	}
	if _, ok := m.Get("missing"); ok {
		t.Error("Update created a key")
	}
	m.Put("a", 11) // moves a to the current generation, once
	if n := m.Len(); n != 3 {
		t.Errorf("Len = %d after re-putting a, want 3", n)
	}
	m.Delete("a")
	if _, ok := m.Get("a"); ok {
		t.Error("a still there after Delete")
	}
}

func TestConcurrent(t *testing.T) {
	m := New[int, int](100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := g*1000 + i
				m.Put(k, k)
				if v, ok := m.Get(k); ok && v != k {
					t.Errorf("Get(%d) = %d", k, v)
				}
				m.Update(k, func(v int) int { return v })
				if i%3 == 0 {
					m.Delete(k)
				}
			}
		}()
	}
	wg.Wait()
	if n := m.Len(); n > 100 {
		t.Errorf("%d entries, bound 100", n)
	}
}

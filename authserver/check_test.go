package authserver

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCheckIsTheScriptsCheckMode: reading a counter with one ZRANGE
// (Server.check) answers what counterScript's check mode answers, in every
// state a counter can be in. The script stays the reference: it is what
// records failures.
func TestCheckIsTheScriptsCheckMode(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	ctx := context.Background()
	const m = time.Minute
	lockEnd := -m + lockDuration // of the three failures at -3m, -2m, -m
	tests := []struct {
		name  string
		fails []time.Duration // when failures are recorded, from now
		at    time.Duration   // when the counter is read, from now
		want  int
	}{
		{"no counter", nil, 0, 3},
		{"one failure", []time.Duration{-m}, 0, 2},
		{"two failures", []time.Duration{-2 * m, -m}, 0, 1},
		{"one failure out of the window", []time.Duration{-20 * m, -m}, 0, 2},
		{"failure at the window's edge", []time.Duration{-failureWindow}, 0, 2},
		{"failure just out of the window", []time.Duration{-failureWindow - time.Millisecond}, 0, 3},
		{"failure just inside the window", []time.Duration{-failureWindow + time.Millisecond}, 0, 2},
		{"locked", []time.Duration{-3 * m, -2 * m, -m}, 0, -1},
		{"lock ending now", []time.Duration{-3 * m, -2 * m, -m}, lockEnd, 3},
		{"lock ended", []time.Duration{-3 * m, -2 * m, -m}, lockEnd + time.Second, 3},
		{"lock ended, new failure", []time.Duration{-3 * m, -2 * m, -m, lockEnd + time.Second}, lockEnd + 2*time.Second, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := []byte(fmt.Sprintf("check-%d", i))
			base := as.clock.Now()
			set := func(d time.Duration) { as.clock.Add(base.Add(d).Sub(as.clock.Now())) }
			for _, at := range tt.fails {
				set(at)
				if _, err := as.Server.touch(ctx, modeFail, [][]byte{id}); err != nil {
					t.Fatal(err)
				}
			}
			set(tt.at)
			defer set(0)
			now := as.clock.Now().UnixMilli()
			got, err := as.Server.check(ctx, now, [][]byte{id})
			if err != nil {
				t.Fatal(err)
			}
			want, err := counterScript.Run(ctx, as.rdb, []string{as.Server.key("fail", id)}, now,
				"("+fmt.Sprint(now-failureWindow.Milliseconds()), identityFailures, modeCheck, "",
				now+lockDuration.Milliseconds(), failureWindow.Milliseconds(), lockDuration.Milliseconds()).Int()
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != want || got[0] != tt.want {
				t.Errorf("check = %d, the script's check mode = %d, want %d", got[0], want, tt.want)
			}
		})
	}
}

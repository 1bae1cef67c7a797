package authserver

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// tripRecorder is a Redis hook that records what a client sends: per round
// trip, the command names (a script by its first argument, the SHA).
type tripRecorder struct {
	mu    sync.Mutex
	trips []string
}

func (r *tripRecorder) record(cmds []redis.Cmder) {
	var names []string
	for _, c := range cmds {
		n := c.Name()
		switch n {
		case "multi", "exec", "hello", "client", "auth", "select", "readonly", "command":
			// Transaction brackets, a new connection's handshake, and
			// slotGuard's COMMAND.
			continue
		case "evalsha", "eval":
			n += "(" + fmt.Sprint(c.Args()[1])[:8] + ")"
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return
	}
	r.mu.Lock()
	r.trips = append(r.trips, strings.Join(names, " "))
	r.mu.Unlock()
}

// take returns what was recorded since the last take.
func (r *tripRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.trips
	r.trips = nil
	return t
}

func (r *tripRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *tripRecorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.record([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (r *tripRecorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.record(cmds)
		return next(ctx, cmds)
	}
}

// lockoutPaths are the claims no outsider may tell apart by the work they
// cost: a wrong answer that fits Maria García, one that fits nobody, and
// her right answers while her own counter is locked (setup locks it).
var lockoutPaths = []struct {
	name                    string
	lockPatient             bool
	given, family, dob, ssn string
}{
	{"wrong/fits-patient", false, "Maria", "Garcia", "1980-01-05", "9999"},
	{"wrong/fits-nobody", false, "Maria", "Garcia", "1980-01-06", "9999"},
	{"right/patient-locked", true, "Maria", "Garcial", "1980-01-05", "1234"},
}

// lockPatient locks Maria García's own counter with three wrong guesses
// that each reach another claim counter.
func lockPatient(as *testAS, ch string) {
	for i, family := range []string{"Garcias", "Garcian", "Garcija"} {
		as.Server.challenge(context.Background(), as.clients[testClient], kbaForm(ch, "Maria", family, "1980-01-05", fmt.Sprintf("%04d", 9000+i)))
	}
}

// TestSameWorkWhetherTheClaimFits (issue 9, item 1, the timing half): the
// three paths send Redis the same commands in the same round trips, so a
// claim that fits a patient costs what one that fits nobody does. Before,
// a claim that fit a patient cost one more lookup and one more write.
func TestSameWorkWhetherTheClaimFits(t *testing.T) {
	t.Parallel()
	var want []string
	for _, p := range lockoutPaths {
		as := newTestAS(t, "")
		rec := &tripRecorder{}
		as.rdb.AddHook(rec)
		_, ch := pkce(t)
		// A fresh Redis has no script cached: the first EVALSHA of a
		// process is followed by an EVAL, whatever the path.
		if err := counterScript.Load(context.Background(), as.rdb).Err(); err != nil {
			t.Fatal(err)
		}
		if p.lockPatient {
			lockPatient(as, ch)
		}
		rec.take()
		res, _, err := as.Server.challenge(context.Background(), as.clients[testClient], kbaForm(ch, p.given, p.family, p.dob, p.ssn))
		if oe, ok := res.(*oauthError); err != nil || !ok || oe.Code != "access_denied" {
			t.Fatalf("%s: %+v %v, want access_denied", p.name, res, err)
		}
		got := rec.take()
		if want == nil {
			want = got
			t.Logf("every path: %q", got)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s sends Redis other work than %s (-%s +%s):\n%s", p.name, lockoutPaths[0].name, lockoutPaths[0].name, p.name, diff)
		}
	}
}

// BenchmarkLockoutPaths measures the three paths of lockoutPaths. Each
// iteration starts 31 minutes after the last on the server's clock, so
// every claim meets fresh counters; the setup is not timed.
func BenchmarkLockoutPaths(b *testing.B) {
	for _, p := range lockoutPaths {
		b.Run(p.name, func(b *testing.B) {
			as := newTestAS(b, "")
			rec := &tripRecorder{}
			as.rdb.AddHook(rec)
			_, ch := pkce(b)
			form := kbaForm(ch, p.given, p.family, p.dob, p.ssn)
			ctx := context.Background()
			var cmds, trips int
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				as.clock.Add(31 * time.Minute)
				if p.lockPatient {
					lockPatient(as, ch)
				}
				rec.take()
				b.StartTimer()
				res, _, err := as.Server.challenge(ctx, as.clients[testClient], form)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := res.(*oauthError); !ok {
					b.Fatalf("got a code: %+v", res)
				}
				for _, trip := range rec.take() {
					trips++
					cmds += len(strings.Fields(trip))
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(cmds)/float64(b.N), "redis-cmds/op")
			b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
		})
	}
}

package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

// BenchmarkCreate measures a call's first save, the transaction of
// createSession, against the compare-and-set script it replaced for that
// save (saveScript with prevStep 0, the same fields), on the single
// server. Besides time it reports the Redis server's own CPU per create
// (INFO cpu, main thread), which is what several instances share; run it
// alone, as other clients of the server count too.
func BenchmarkCreate(b *testing.B) {
	rdb, prefix := redistest.ModeClient(b, "single")
	s := newStoreOn(b, rdb, prefix)
	ctx := context.Background()
	sess := func() Session {
		return Session{CallSid: newSid(), Step: 1, Phase: ivr.PhaseCollecting, Dialog: []byte("d1|language|en-US|0|0|0|0||")}
	}
	b.Run("transaction", func(b *testing.B) {
		cpu0 := redisCPU(b, rdb)
		for b.Loop() {
			mustSave(b, s, sess(), 0, SaveExtras{})
		}
		b.ReportMetric((redisCPU(b, rdb)-cpu0).Seconds()*1e6/float64(b.N), "redis-µs/op")
	})
	b.Run("script", func(b *testing.B) {
		cpu0 := redisCPU(b, rdb)
		for b.Loop() {
			x := sess()
			now := time.Now()
			args := []any{0, now.Add(s.ttl).UnixMilli(), 0, 10, "", "", "", 0,
				fStep, "1", fPhase, string(x.Phase), fAttempts, "0", fCreatedAt, now.UTC().Format(time.RFC3339Nano), fDialog, string(x.Dialog)}
			if err := s.save.Run(ctx, rdb, []string{s.callKey(x.CallSid), s.tokenKey(x.CallSid)}, args...).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric((redisCPU(b, rdb)-cpu0).Seconds()*1e6/float64(b.N), "redis-µs/op")
	})
}

// redisCPU returns the CPU time the server's main thread has used.
func redisCPU(tb testing.TB, rdb redis.UniversalClient) time.Duration {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys_main_thread" || k == "used_cpu_user_main_thread" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatal(err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

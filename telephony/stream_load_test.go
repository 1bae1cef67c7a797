//go:build unix

package telephony_test

import (
	"encoding/base64"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/audio"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// TestStreamLoad runs many concurrent streams over loopback for a bounded
// time and reports CPU use and lost frames. It is a measurement, not an
// assertion about speed, and needs IVR_STREAM_LOAD=1:
//
//	IVR_STREAM_LOAD=1 go test -run TestStreamLoad -v ./telephony/
//
// IVR_STREAM_LOAD_N (default 1000) streams each send 20 ms μ-law frames in
// real time for IVR_STREAM_LOAD_SECONDS (default 5) while the gateway plays
// them the date-of-birth prompt in real time, then send stop. CPU time is
// the whole test process (gateway and the simulated Twilio side).
func TestStreamLoad(t *testing.T) {
	if os.Getenv("IVR_STREAM_LOAD") == "" {
		t.Skip("set IVR_STREAM_LOAD=1 to run the load measurement")
	}
	n := envInt("IVR_STREAM_LOAD_N", 1000)
	seconds := envInt("IVR_STREAM_LOAD_SECONDS", 5)
	e := newStreamEnv(t, fastClock{1})

	// Bring every call to the date-of-birth question through the webhooks.
	docs := make([]connectTwiML, n)
	sids := make([]string, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				sids[i] = fmt.Sprintf("CA%032x", 0x10ad0000+i)
				docs[i] = e.toDOB(sids[i])
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()

	frame := `{"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"20","payload":"` +
		base64.StdEncoding.EncodeToString(voiceFrameMulaw()) + `"},"streamSid":"MZ5174584e1127285e2b015e720b3d9e68"}`
	var sent, received, openFailed atomic.Int64
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	begin := time.Now()
	for i := range n {
		ts, _, err := e.dial(signStream())
		if err != nil {
			openFailed.Add(1)
			continue
		}
		ts.start(sids[i], docs[i].params())
		wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			end := time.Now().Add(time.Duration(seconds) * time.Second)
			for now := range tick.C {
				if now.After(end) {
					break
				}
				ts.send(frame)
				sent.Add(1)
			}
			ts.send(`{"event":"stop","sequenceNumber":"9999","streamSid":"MZ5174584e1127285e2b015e720b3d9e68","stop":{}}`)
			ts.closed()
			for len(ts.got) > 0 {
				if m := <-ts.got; m.Event == "media" {
					received.Add(1)
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(begin)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()-before.Utime.Nano()) + time.Duration(after.Stime.Nano()-before.Stime.Nano())

	inbound := e.metric("ivr_stream_messages_total", "event", "media")
	outSent := e.metric("ivr_stream_frames_sent_total")
	outLost := e.metric("ivr_stream_frames_lost_total")
	want := float64(n) * (float64(seconds) * 50)
	t.Logf("%d streams for %ds over loopback: wall %v, CPU %v (%.0f%% of one core, %.1f µs per inbound frame)",
		n, seconds, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), 100*cpu.Seconds()/wall.Seconds(),
		float64(cpu.Microseconds())/float64(max(sent.Load(), 1)))
	t.Logf("inbound frames: sent %d, processed %.0f, lost %.0f", sent.Load(), inbound, float64(sent.Load())-inbound)
	t.Logf("outbound prompt frames: real-time budget %.0f, sent %.0f, dropped (writer behind) %.0f, received %d, lost in transit %.0f",
		want, outSent, outLost, received.Load(), outSent-float64(received.Load()))
	if openFailed.Load() > 0 {
		t.Errorf("%d streams could not be opened", openFailed.Load())
	}
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil || v <= 0 {
		return def
	}
	return v
}

func signStream() string {
	return twiliosim.Sign(authToken, "wss://ivr.example.test/twilio/stream", nil)
}

// voiceFrameMulaw is 20 ms of a 440 Hz tone: audio for the detector to
// chew on that holds no key.
func voiceFrameMulaw() []byte {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	return audio.EncodeMulaw(nil, pcm)
}

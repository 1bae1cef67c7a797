package dtmf

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ivr-gateway/ivr/audio"
)

// tally counts battery outcomes per category and logs them, so that
// `go test -v -run Battery` prints the detect/reject rates.
type tally struct {
	tb       testing.TB
	name     string
	ok, runs int
}

func newTally(tb testing.TB, name string) *tally {
	t := &tally{tb: tb, name: name}
	tb.Cleanup(func() { tb.Logf("%-34s %4d/%-4d as expected", t.name, t.ok, t.runs) })
	return t
}

// check scans s and compares the digits with want, failing the test on a
// mismatch.
func (t *tally) check(s signal, want, label string) {
	t.tb.Helper()
	t.runs++
	got := Scan(s.synth(t.tb)).Digits
	if got != want {
		t.tb.Errorf("%s: %s: got digits %q, want %q", t.name, label, got, want)
		return
	}
	t.ok++
}

func TestBatteryKeys(t *testing.T) {
	t.Parallel()
	tl := newTally(t, "keys (16 single + string)")
	for i := range len(allKeys) {
		k := allKeys[i : i+1]
		tl.check(signal{bursts: keyString(k, 50, 50), leadMS: 10}, k, "key "+k)
	}
	tl.check(signal{bursts: keyString(allKeys, 50, 50)}, allKeys, "all keys 50/50 ms")
}

func TestBatteryFrequencyOffset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		lo, hi float64
		reject bool
	}{
		{"+1.5%/+1.5%", 0.015, 0.015, false},
		{"+1.5%/-1.5%", 0.015, -0.015, false},
		{"-1.5%/+1.5%", -0.015, 0.015, false},
		{"-1.5%/-1.5%", -0.015, -0.015, false},
		{"low +3.5%", 0.035, 0, true},
		{"low -3.5%", -0.035, 0, true},
		{"high +3.5%", 0, 0.035, true},
		{"high -3.5%", 0, -0.035, true},
		{"both +3.5%", 0.035, 0.035, true},
		{"both -3.5%", -0.035, -0.035, true},
	}
	detect, reject := newTally(t, "frequency ±1.5% detect"), newTally(t, "frequency ±3.5% reject")
	for _, tt := range tests {
		for i := range len(allKeys) {
			k := allKeys[i : i+1]
			s := signal{bursts: offsets(k[0], tt.lo, tt.hi), leadMS: float64(i), tailMS: 20, seed: uint64(i)}
			if tt.reject {
				reject.check(s, "", tt.name+" key "+k)
			} else {
				detect.check(s, k, tt.name+" key "+k)
			}
		}
	}
}

func TestBatteryTwist(t *testing.T) {
	t.Parallel()
	detect, reject := newTally(t, "twist ≤8 dB normal/≤4 reverse"), newTally(t, "twist 10 dB normal/6 reverse")
	for _, tw := range []float64{-4, -2, 2, 4, 6, 8} {
		for _, off := range []float64{0, 0.015, -0.015} {
			for i := range len(allKeys) {
				k := allKeys[i : i+1]
				s := signal{bursts: offsets(k[0], off, -off), twistDB: tw, leadMS: float64(i) / 2, seed: uint64(i)}
				detect.check(s, k, fmt.Sprintf("twist %+g dB offset %+g key %s", tw, off, k))
			}
		}
	}
	for _, tw := range []float64{-6, -8, 10, 12} {
		for i := range len(allKeys) {
			k := allKeys[i : i+1]
			reject.check(signal{bursts: offsets(k[0], 0, 0), twistDB: tw, seed: uint64(i)}, "", fmt.Sprintf("twist %+g dB key %s", tw, k))
		}
	}
}

func TestBatteryLevels(t *testing.T) {
	t.Parallel()
	detect, reject := newTally(t, "level −3…−29 dBm0 detect"), newTally(t, "level −50/−60 dBm0 reject")
	// −3 dBm0 per tone is as loud as μ-law carries a pair; −29 dBm0 is 26 dB
	// of attenuation below it.
	for _, lv := range []float64{-3, -6, -10, -15, -20, -25, -29} {
		detect.check(signal{bursts: keyString(allKeys, 50, 50), level: lv}, allKeys, fmt.Sprintf("%g dBm0", lv))
	}
	for _, lv := range []float64{-50, -60} {
		reject.check(signal{bursts: keyString(allKeys, 50, 50), level: lv}, "", fmt.Sprintf("%g dBm0", lv))
	}
}

// Every alignment of the tones against the 102-sample blocks.
func TestBatteryDurations(t *testing.T) {
	t.Parallel()
	detect, reject := newTally(t, "40 ms on/50 ms off, 102 alignments"), newTally(t, "20 ms tones, 102 alignments")
	for a := range blockLen {
		lead := float64(a) * 1000 / sampleRate
		detect.check(signal{bursts: keyString("159#", 40, 50), leadMS: lead}, "159#", fmt.Sprintf("lead %d samples", a))
		reject.check(signal{bursts: keyString("159#", 20, 50), leadMS: lead}, "", fmt.Sprintf("lead %d samples", a))
	}
}

func TestBatteryNoise(t *testing.T) {
	t.Parallel()
	detect, quiet := newTally(t, "S/N 15 dB, 16-key strings"), newTally(t, "noise only, 10 s")
	for seed := range 30 {
		detect.check(signal{bursts: keyString(allKeys, 40, 50), snrDB: 15, seed: uint64(seed)}, allKeys, fmt.Sprintf("seed %d", seed))
	}
	// A tone pair at −10 dBm0 under 15 dB S/N sets the noise; here the noise
	// plays alone (the zero-length burst carries no tone).
	quiet.check(signal{bursts: []burst{{digit: '5', onMS: 0, offMS: 10000}}, snrDB: 15, seed: 99}, "", "noise alone")
}

// OnMS is when the digit was recognised: within the tone, two to three
// blocks after it starts.
func TestEventTiming(t *testing.T) {
	t.Parallel()
	samples := signal{bursts: keyString("1234", 60, 60), leadMS: 100}.synth(t)
	res := Scan(samples)
	if res.Digits != "1234" {
		t.Fatalf("digits %q, want 1234", res.Digits)
	}
	for i, ev := range res.Events {
		start := int64(100 + i*120)
		if ev.OnMS < start+20 || ev.OnMS > start+40 {
			t.Errorf("digit %s recognised at %d ms, want %d–%d ms", ev.Digit, ev.OnMS, start+20, start+40)
		}
	}
}

func collect(d *Detector, feed func(d *Detector, emit func(Event))) []Event {
	var evs []Event
	feed(d, func(e Event) { evs = append(evs, e) })
	return evs
}

func TestStreamingChunkSizes(t *testing.T) {
	t.Parallel()
	samples := signal{bursts: keyString("0*#D7", 45, 55), snrDB: 20, seed: 7, tailMS: 30}.synth(t)
	mulaw := audio.EncodeMulaw(nil, samples)
	want := collect(NewDetector(), func(d *Detector, emit func(Event)) { d.Write(samples, emit) })
	if got := digitsOf(want); got != "0*#D7" {
		t.Fatalf("whole buffer: digits %q", got)
	}
	for _, size := range []int{1, 7, 51, 101, 102, 103, 160, 1000} {
		d := NewDetector()
		got := collect(d, func(d *Detector, emit func(Event)) {
			for s := samples; len(s) > 0; s = s[min(size, len(s)):] {
				d.Write(s[:min(size, len(s))], emit)
			}
		})
		if !slices.Equal(got, want) {
			t.Errorf("Write in chunks of %d: %v, want %v", size, got, want)
		}
		d.Reset()
		got = collect(d, func(d *Detector, emit func(Event)) {
			for m := mulaw; len(m) > 0; m = m[min(size, len(m)):] {
				d.WriteMulaw(m[:min(size, len(m))], emit)
			}
		})
		if !slices.Equal(got, want) {
			t.Errorf("WriteMulaw in chunks of %d after Reset: %v, want %v", size, got, want)
		}
	}
}

// Talk-off: speech must never produce a digit. The clips are synthetic
// speech (see testdata/talkoff/generate.sh), played at their recorded level
// and 6 dB louder and 10 dB quieter.
func TestTalkOff(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/talkoff/*.wav")
	if err != nil || len(files) < 10 {
		t.Fatalf("talk-off corpus: %d files, %v", len(files), err)
	}
	var blocks, hits, seconds int
	for _, f := range files {
		w := mustReadWAV(t, f)
		for _, gainDB := range []float64{0, 6, -10} {
			g := math.Pow(10, gainDB/20)
			x := make([]int16, len(w.Samples))
			for i, s := range w.Samples {
				x[i] = int16(max(-32768, min(32767, math.Round(float64(s)*g))))
			}
			d := NewDetector()
			for i := 0; i+blockLen <= len(x); i += blockLen {
				d.Write(x[i:i+blockLen], func(e Event) {
					t.Errorf("%s at %+g dB: talk-off digit %c at %d ms", filepath.Base(f), gainDB, e.Digit, e.OnMS)
				})
				blocks++
				if d.why == hitBlock {
					hits++
				}
			}
			seconds += len(x) / sampleRate
		}
	}
	t.Logf("talk-off: %d clips × 3 gains, %d s, %d blocks, %d blocks passing all tests, 0 digits allowed", len(files), seconds, blocks, hits)
}

func mustReadWAV(tb testing.TB, path string) *audio.WAV {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w, err := audio.ReadWAV(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return w
}

func TestDetectorAllocs(t *testing.T) { // not parallel: AllocsPerRun
	frames := mulawFrames(t)
	d := NewDetector()
	emit := func(Event) {}
	i := 0
	allocs := testing.AllocsPerRun(500, func() {
		d.WriteMulaw(frames[i%len(frames)], emit)
		i++
	})
	if allocs != 0 {
		t.Errorf("WriteMulaw: %.2f allocations per 20 ms frame, want 0", allocs)
	}
}

// mulawFrames returns 160-byte μ-law frames of a keypad session: tones,
// gaps and noise, so the benchmark exercises every branch.
func mulawFrames(tb testing.TB) [][]byte {
	tb.Helper()
	x := signal{bursts: keyString(allKeys, 60, 60), snrDB: 25, seed: 3}.synth(tb)
	b := audio.EncodeMulaw(nil, x)
	var frames [][]byte
	for ; len(b) >= 160; b = b[160:] {
		frames = append(frames, b[:160])
	}
	return frames
}

// BenchmarkWriteMulaw is one 20 ms Media Streams frame through the detector.
func BenchmarkWriteMulaw(b *testing.B) {
	frames := mulawFrames(b)
	d := NewDetector()
	emit := func(Event) {}
	b.ReportAllocs()
	b.SetBytes(160)
	i := 0
	for b.Loop() {
		d.WriteMulaw(frames[i%len(frames)], emit)
		i++
	}
}

// BenchmarkWriteMulawSilence is the common case: nobody is pressing keys.
func BenchmarkWriteMulawSilence(b *testing.B) {
	frame := make([]byte, 160)
	for i := range frame {
		frame[i] = 0xFF
	}
	d := NewDetector()
	b.ReportAllocs()
	for b.Loop() {
		d.WriteMulaw(frame, nil)
	}
}

func FuzzDetector(f *testing.F) {
	f.Add(uint8(160), audio.EncodeMulaw(nil, signal{bursts: keyString("12", 45, 50)}.synth(f)))
	f.Add(uint8(1), []byte{0, 0x80, 0xFF, 0x7F})
	f.Fuzz(func(t *testing.T, chunk uint8, b []byte) {
		size := int(chunk) + 1
		var evs []Event
		emit := func(e Event) { evs = append(evs, e) }
		d := NewDetector()
		for m := b; len(m) > 0; m = m[min(size, len(m)):] {
			d.WriteMulaw(m[:min(size, len(m))], emit)
		}
		lin := make([]int16, len(b)/2)
		for i := range lin {
			lin[i] = int16(b[2*i]) | int16(b[2*i+1])<<8
		}
		d.Reset()
		d.Write(lin, emit)
		for _, e := range evs {
			if !slices.Contains([]byte(allKeys), e.Digit) {
				t.Fatalf("invalid digit %q", e.Digit)
			}
		}
		// A key press needs two blocks (25.5 ms) of tone and the stream
		// restarts at zero on Reset, so events that follow each other in one
		// stream are at least that far apart.
		for i := 1; i < len(evs); i++ {
			if gap := evs[i].OnMS - evs[i-1].OnMS; gap >= 0 && gap < 25 {
				t.Fatalf("events %v and %v only %d ms apart", evs[i-1], evs[i], gap)
			}
		}
	})
}

// Recognition bandwidth per tone, after the Mitel CM7291 test 3: pulses
// swept from −4 % to +4 % in 0.1 % steps. Each tone must be accepted
// throughout ±1.5 % and rejected beyond ±3.5 %; the measured edges are logged.
func TestBatteryBandwidth(t *testing.T) {
	t.Parallel()
	const pulses = 5
	for ti, f := range toneFreqs {
		digit := keypad[ti%4][1] // low tones paired with 1336 Hz
		if ti >= 4 {
			digit = keypad[1][ti-4] // high tones paired with 770 Hz
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for step := -40; step <= 40; step++ {
			off := float64(step) / 1000
			n := 0
			for p := range pulses {
				b := burst{digit: digit, onMS: 50, offMS: 50}
				if ti < 4 {
					b.lowOff = off
				} else {
					b.highOff = off
				}
				if Scan(signal{bursts: []burst{b}, leadMS: float64(p) * 2.5, seed: uint64(p)}.synth(t)).Digits != "" {
					n++
				}
			}
			switch a := math.Abs(off); {
			case a <= 0.015 && n != pulses:
				t.Errorf("%g Hz at %+.1f%%: %d/%d pulses detected", f, off*100, n, pulses)
			case a >= 0.035 && n != 0:
				t.Errorf("%g Hz at %+.1f%%: %d/%d pulses detected", f, off*100, n, pulses)
			}
			if n > 0 {
				lo, hi = min(lo, off), max(hi, off)
			}
		}
		t.Logf("%4g Hz: detected from %+.1f%% to %+.1f%%", f, lo*100, hi*100)
	}
}

// Dynamic range, after Mitel test 5: all 16 keys from −3 dBm0 down in 1 dB
// steps; logs the weakest level at which every key is still detected.
func TestBatteryDynamicRange(t *testing.T) {
	t.Parallel()
	weakest := 0.0
	for lv := -3.0; lv >= -50; lv-- {
		if Scan(signal{bursts: keyString(allKeys, 50, 50), level: lv}.synth(t)).Digits != allKeys {
			break
		}
		weakest = lv
	}
	if weakest > -29 {
		t.Errorf("all keys detected only down to %g dBm0 per tone, want −29 dBm0 (26 dB below −3 dBm0)", weakest)
	}
	t.Logf("all 16 keys detected from −3 down to %g dBm0 per tone", weakest)
}

package dtmf

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/audio"
)

// burst is one synthetic key press.
type burst struct {
	digit   byte
	onMS    int     // tone duration
	offMS   int     // silence after the tone
	lowOff  float64 // relative frequency error of the low tone (0.015 = +1.5 %)
	highOff float64 // same for the high tone
}

// signal describes a synthetic recording: the battery's unit of test.
type signal struct {
	bursts  []burst
	leadMS  float64 // silence before the first tone (fractional ms shift alignment)
	tailMS  int     // silence after the last burst
	level   float64 // low-group tone level, dBm0 (0 means the default −10 dBm0)
	twistDB float64 // >0 normal twist (high tone weaker), <0 reverse twist
	snrDB   float64 // tone-pair power to white-noise power; 0 means no noise
	seed    uint64
}

// digitFreqs returns a key's low and high frequency.
func digitFreqs(tb testing.TB, k byte) (lo, hi float64) {
	tb.Helper()
	for r := range 4 {
		for c := range 4 {
			if keypad[r][c] == k {
				return toneFreqs[r], toneFreqs[4+c]
			}
		}
	}
	tb.Fatalf("no key %q", k)
	return 0, 0
}

// synth renders the signal as floats, then round-trips it through G.711
// μ-law as the Media Streams path delivers it.
func (s signal) synth(tb testing.TB) []int16 {
	tb.Helper()
	level := s.level
	if level == 0 {
		level = -10
	}
	aLow := refAmplitude * math.Pow(10, level/20)
	aHigh := refAmplitude * math.Pow(10, (level-s.twistDB)/20)
	rng := rand.New(rand.NewPCG(s.seed, 0x5eed))

	lead := int(math.Round(s.leadMS * sampleRate / 1000))
	x := make([]float64, lead)
	for _, b := range s.bursts {
		lo, hi := digitFreqs(tb, b.digit)
		lo *= 1 + b.lowOff
		hi *= 1 + b.highOff
		p1, p2 := rng.Float64()*2*math.Pi, rng.Float64()*2*math.Pi
		for n := range b.onMS * sampleRate / 1000 {
			t := float64(n) / sampleRate
			x = append(x, aLow*math.Sin(2*math.Pi*lo*t+p1)+aHigh*math.Sin(2*math.Pi*hi*t+p2))
		}
		x = append(x, make([]float64, b.offMS*sampleRate/1000)...)
	}
	x = append(x, make([]float64, s.tailMS*sampleRate/1000)...)
	if s.snrDB != 0 {
		sigma := math.Sqrt((aLow*aLow/2 + aHigh*aHigh/2) / math.Pow(10, s.snrDB/10))
		for i := range x {
			x[i] += sigma * rng.NormFloat64()
		}
	}
	out := make([]int16, len(x))
	for i, v := range x {
		v = math.Round(max(-32768, min(32767, v)))
		out[i] = audio.MulawDecode(audio.MulawEncode(int16(v)))
	}
	return out
}

// keyString is a convenience: every key of digits, on/off ms each.
func keyString(digits string, on, off int) []burst {
	b := make([]burst, 0, len(digits))
	for i := range len(digits) {
		b = append(b, burst{digit: digits[i], onMS: on, offMS: off})
	}
	return b
}

const allKeys = "123A456B789C*0#D"

// offsets returns bursts of one key with the given frequency errors.
func offsets(k byte, lo, hi float64) []burst {
	return []burst{{digit: k, onMS: 50, offMS: 60, lowOff: lo, highOff: hi}}
}

func digitsOf(evs []Event) string {
	var sb strings.Builder
	for _, e := range evs {
		sb.WriteByte(e.Digit)
	}
	return sb.String()
}

// Package dtmf detects keypad (DTMF) tones in 8 kHz telephone audio.
//
// It backs two paths: the media-stream fallback for calls where Twilio sends
// no `dtmf` events (unidirectional <Start><Stream>, legs that lose RFC 4733
// telephone-events), and `ivr dtmf FILE...`, which scores recordings.
//
// The decision chain follows spandsp (src/dtmf.c) and Asterisk (main/dsp.c):
// Goertzel filters at the eight DTMF frequencies over 102-sample blocks
// (12.75 ms), then per block a level threshold, normal and reverse twist,
// relative peak within each group and the share of block energy carried by
// the tone pair; a digit is declared when two consecutive blocks agree and
// ends after two blocks without it. Three things are added that the
// references lack:
//
//   - Frequency: a 102-sample Goertzel bin is ±78 Hz wide, so it cannot
//     tell a tone 1.5 % off (must detect) from one 3.5 % off (must reject).
//     The detector measures each tone's frequency from the phase advance of
//     its Goertzel output: between the two 51-sample halves of a block
//     (coarse, unambiguous to ±78 Hz) and between consecutive blocks (four
//     times finer, unambiguous to ±39 Hz, disambiguated by the coarse value).
//     Tones further than 2.5 % from nominal are rejected. The estimate also
//     undoes the Goertzel scalloping loss before the level and twist tests,
//     so an off-frequency high tone is not mistaken for extra twist.
//   - Duration: the tone pair must carry comparable energy (within 6 dB) in
//     both halves of a block, so a block only partly covered by a tone does
//     not count as a hit. That makes 20 ms tones fail at every alignment
//     while 40 ms tones always have two full blocks.
//   - Leakage removal: a rectangular 102-sample window leaks each tone into
//     the other bins (about −21 dB from 941 Hz into 1209 Hz). At 8 dB twist
//     that swings the weak tone's measured level by ±1 dB from block to
//     block and can bring the pair's leakage within 8 dB of the weak tone,
//     failing the relative-peak test. Knowing each tone's frequency, the
//     detector subtracts its modelled leakage (Dirichlet kernel) from the
//     other bins before the twist and relative-peak tests.
//
// Levels are in dBm0 with 0 dBm0 a sine of peak 22 300 on the 16-bit linear
// scale, so that G.711 μ-law's largest value (32 124) is +3.17 dBm0.
package dtmf

import (
	"math"
	"math/cmplx"

	"github.com/ivr-gateway/ivr/audio"
)

const (
	sampleRate = 8000
	blockLen   = 102 // spandsp/Asterisk DTMF_GSIZE
	halfLen    = blockLen / 2

	// refAmplitude is the peak of a 0 dBm0 sine (see the package comment).
	refAmplitude = 22300.0

	// thresholdDBm0 is the weakest tone (each of the pair) accepted; spandsp
	// uses −42 dBm0.
	thresholdDBm0 = -42
	// normalTwistDB and reverseTwistDB bound how much weaker (normal) or
	// stronger (reverse) the high-group tone may be than the low-group tone.
	// The standard accepts 8 dB and 4 dB; the battery rejects 10 dB and 6 dB.
	// The limits sit half way, since the measured twist of a pair sent at
	// 8 dB, 1.5 % off frequency, through μ-law, reaches 8.6 dB.
	normalTwistDB  = 9
	reverseTwistDB = 5
	// relativePeakDB: the other tones of each group must be this far below
	// the strongest (spandsp, Asterisk: 8 dB).
	relativePeakDB = 8
	// pairShare is the minimum fraction of the block's energy carried by the
	// two tones (spandsp's DTMF_TO_TOTAL_ENERGY is 10^−0.085 ≈ 0.82; with
	// the scalloping correction the pair share is measured closer to 1).
	pairShare = 0.80
	// halfBalanceDB bounds the pair-energy difference between block halves.
	halfBalanceDB = 6
	// freqTolerance is the largest accepted relative frequency error, half
	// way between the must-detect 1.5 % and the must-reject 3.5 %.
	freqTolerance = 0.025
	// missesToEnd is how many blocks without the digit end it (25–38 ms
	// depending on alignment, so 50 ms gaps always separate key presses and
	// dropouts under 25 ms never split one).
	missesToEnd = 2
)

// keypad maps row (low group) and column (high group) to the digit.
var keypad = [4][4]byte{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// toneFreqs are the nominal DTMF frequencies: rows then columns.
var toneFreqs = [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}

// tone holds the per-frequency constants of the Goertzel filters.
type tone struct {
	coef     float32    // 2 cos ω
	cos, sin float64    // for the complex output
	rotHalf  complex128 // e^{−jω·51}: aligns the second half with the first
	rotBlock complex128 // e^{−jω·102}: nominal advance from block to block
}

// tones is computed once at start-up and read-only afterwards.
var tones = func() (t [8]tone) {
	for i, f := range toneFreqs {
		w := 2 * math.Pi * f / sampleRate
		t[i] = tone{
			coef:     float32(2 * math.Cos(w)),
			cos:      math.Cos(w),
			sin:      math.Sin(w),
			rotHalf:  cmplx.Exp(complex(0, -w*halfLen)),
			rotBlock: cmplx.Exp(complex(0, -w*blockLen)),
		}
	}
	return t
}()

// Precomputed thresholds in Goertzel energy units: a sine of amplitude A
// over N samples gives |X|² = (A·N/2)².
var (
	levelThreshold = sq(refAmplitude * math.Pow(10, thresholdDBm0/20.0) * blockLen / 2)
	normalTwist    = math.Pow(10, normalTwistDB/10.0)
	reverseTwist   = math.Pow(10, reverseTwistDB/10.0)
	relativePeak   = math.Pow(10, relativePeakDB/10.0)
	halfBalance    = math.Pow(10, halfBalanceDB/10.0)
)

func sq(x float64) float64 { return x * x }

// Event is one recognised key press.
type Event struct {
	Digit byte  // '0'–'9', '*', '#', 'A'–'D'
	OnMS  int64 // when the digit was recognised, in ms from the stream start
}

// Detector is a streaming DTMF receiver for 8 kHz audio. It accepts audio in
// chunks of any size and re-blocks internally, and never allocates. The zero
// value is ready to use. A Detector is not safe for concurrent use: give each
// stream its own.
type Detector struct {
	buf [blockLen]float32
	n   int   // samples in buf
	pos int64 // samples consumed before buf

	prev       [8]complex128 // previous block's full-block Goertzel outputs
	prevCoarse [8]float64    // previous block's coarse frequency offsets, Hz
	prevPair   int           // 1 + previous block's row*4+col if tone-like, else 0

	lastHit byte // digit hit by the previous block, 0 for none
	cur     byte // digit currently held down, 0 for none
	misses  int  // consecutive blocks without cur

	why reason // which test the last block failed, for tests and tuning
}

// reason records which test rejected a block (hitBlock: none did).
type reason uint8

const (
	hitBlock reason = iota
	tooWeak
	notPeak
	unbalanced
	offFrequency
	twisted
	noisy
)

// NewDetector returns a detector for 8 kHz linear or μ-law audio.
func NewDetector() *Detector { return &Detector{} }

// Reset forgets all state, as at the start of a new stream; OnMS restarts
// from zero.
func (d *Detector) Reset() {
	*d = Detector{}
}

// Write feeds 16-bit linear samples and calls emit once per recognised key
// press, when its second agreeing block completes. emit runs synchronously;
// it may be nil.
func (d *Detector) Write(samples []int16, emit func(Event)) {
	for len(samples) > 0 {
		k := min(blockLen-d.n, len(samples))
		dst := d.buf[d.n : d.n+k]
		for i, s := range samples[:k] {
			dst[i] = float32(s)
		}
		samples = samples[k:]
		d.n += k
		if d.n == blockLen {
			d.block(emit)
		}
	}
}

// WriteMulaw feeds G.711 μ-law bytes: the payload of a Twilio Media Streams
// `media` message (160 bytes per 20 ms) after base64 decoding.
func (d *Detector) WriteMulaw(payload []byte, emit func(Event)) {
	for len(payload) > 0 {
		k := min(blockLen-d.n, len(payload))
		dst := d.buf[d.n : d.n+k]
		for i, b := range payload[:k] {
			dst[i] = float32(audio.MulawDecode(b))
		}
		payload = payload[k:]
		d.n += k
		if d.n == blockLen {
			d.block(emit)
		}
	}
}

// goertzel runs the eight filters over x and returns the complex outputs,
// each rotated by the same e^{jω(N−1)} that later cancels in every ratio or
// magnitude taken, and the energy of x.
func goertzel(x []float32) (out [8]complex128, energy float64) {
	// Two passes of four filters keep the state in registers; within a
	// pass the four recurrences are independent, so they pipeline.
	var e float32
	for g := 0; g < 8; g += 4 {
		c0, c1, c2, c3 := tones[g].coef, tones[g+1].coef, tones[g+2].coef, tones[g+3].coef
		var a1, a2, b1, b2, p1, p2, q1, q2 float32
		for _, v := range x {
			a1, a2 = c0*a1-(a2-v), a1
			b1, b2 = c1*b1-(b2-v), b1
			p1, p2 = c2*p1-(p2-v), p1
			q1, q2 = c3*q1-(q2-v), q1
		}
		s := [4][2]float32{{a1, a2}, {b1, b2}, {p1, p2}, {q1, q2}}
		for i := range 4 {
			t := &tones[g+i]
			s1, s2 := float64(s[i][0]), float64(s[i][1])
			out[g+i] = complex(s1-t.cos*s2, t.sin*s2)
		}
	}
	for _, v := range x {
		e += v * v
	}
	return out, float64(e)
}

// block analyses one full block and runs the digit state machine.
func (d *Detector) block(emit func(Event)) {
	ya, ea := goertzel(d.buf[:halfLen])
	yb, eb := goertzel(d.buf[halfLen:])
	d.pos += blockLen
	d.n = 0

	var full [8]complex128
	var energy [8]float64
	for i := range full {
		full[i] = ya[i] + yb[i]*tones[i].rotHalf
		energy[i] = sq(real(full[i])) + sq(imag(full[i]))
	}
	total := ea + eb

	hit := d.classify(&ya, &yb, &full, &energy, total)

	switch {
	case hit != 0 && hit == d.lastHit && hit != d.cur:
		d.cur, d.misses = hit, 0
		if emit != nil {
			emit(Event{Digit: hit, OnMS: d.pos * 1000 / sampleRate})
		}
	case d.cur != 0 && hit == d.cur:
		d.misses = 0
	case d.cur != 0:
		if d.misses++; d.misses >= missesToEnd {
			d.cur = 0
		}
	}
	d.lastHit = hit
	d.prev = full
}

// classify returns the digit this block carries, or 0.
func (d *Detector) classify(ya, yb, full *[8]complex128, energy *[8]float64, total float64) byte {
	r, c := 0, 4
	for i := 1; i < 4; i++ {
		if energy[i] > energy[r] {
			r = i
		}
		if energy[4+i] > energy[c] {
			c = 4 + i
		}
	}
	pair := 1 + r*4 + (c - 4)
	prevPair := d.prevPair
	d.prevPair = 0 // set again below once the block looks like a tone pair

	// Cheap tests first: most blocks are silence or speech.
	if energy[r] < levelThreshold/4 || energy[c] < levelThreshold/4 {
		d.why = tooWeak
		return 0
	}
	if !balanced(ya, yb, r, c) {
		d.why = unbalanced
		return 0
	}

	var coarse [8]float64
	coarse[r] = coarseOffset(ya, yb, r)
	coarse[c] = coarseOffset(ya, yb, c)
	offR, offC := coarse[r], coarse[c]
	if prevPair == pair {
		offR = d.fineOffset(full, r, (coarse[r]+d.prevCoarse[r])/2)
		offC = d.fineOffset(full, c, (coarse[c]+d.prevCoarse[c])/2)
	}
	d.prevPair, d.prevCoarse = pair, coarse

	if math.Abs(offR) > freqTolerance*toneFreqs[r] || math.Abs(offC) > freqTolerance*toneFreqs[c] {
		d.why = offFrequency
		return 0
	}
	// Remove each tone's leakage from the other's bin before comparing
	// levels (see the package comment).
	mr, mc := measure(full[r], offR), measure(full[c], offC)
	yr := full[r] - mc.leakTo(c, r)
	yc := full[c] - mr.leakTo(r, c)
	// Relative peak, on what remains in the other bins of each group once
	// the pair's leakage is removed.
	pr, pc := sqAbs(yr), sqAbs(yc)
	for i := range 8 {
		if i == r || i == c {
			continue
		}
		peak := pr
		if i >= 4 {
			peak = pc
		}
		if sqAbs(full[i]-mr.leakTo(r, i)-mc.leakTo(c, i))*relativePeak > peak {
			d.why = notPeak
			return 0
		}
	}
	er := pr / sq(mr.scallop())
	ec := pc / sq(mc.scallop())
	if er < levelThreshold || ec < levelThreshold {
		d.why = tooWeak
		return 0
	}
	if er > ec*normalTwist || ec > er*reverseTwist {
		d.why = twisted
		return 0
	}
	// Each tone's energy over the block is (A·N/2)², its power A²/2, so its
	// share of the block energy Σx² is 2·|X|²/N.
	if 2*(er+ec)/blockLen < pairShare*total {
		d.why = noisy
		return 0
	}
	d.why = hitBlock
	return keypad[r][c-4]
}

// balanced reports whether the tone pair's energy in the two halves of the
// block is within halfBalanceDB, i.e. the tone covers the whole block.
func balanced(ya, yb *[8]complex128, r, c int) bool {
	a := sqAbs(ya[r]) + sqAbs(ya[c])
	b := sqAbs(yb[r]) + sqAbs(yb[c])
	return a <= b*halfBalance && b <= a*halfBalance
}

func sqAbs(z complex128) float64 { return sq(real(z)) + sq(imag(z)) }

// coarseOffset estimates tone i's offset from nominal, in Hz, from the phase
// advance between the two halves of the block.
func coarseOffset(ya, yb *[8]complex128, i int) float64 {
	ph := cmplx.Phase(yb[i] * cmplx.Conj(ya[i]) * tones[i].rotHalf)
	return ph * sampleRate / (2 * math.Pi * halfLen)
}

// fineOffset estimates tone i's offset from the phase advance between the
// previous block and this one. That is ambiguous by multiples of
// 8000/102 Hz; the candidate nearest to the coarse estimate wins.
func (d *Detector) fineOffset(full *[8]complex128, i int, coarse float64) float64 {
	const step = float64(sampleRate) / blockLen
	ph := cmplx.Phase(full[i] * cmplx.Conj(d.prev[i]) * tones[i].rotBlock)
	f := ph * sampleRate / (2 * math.Pi * blockLen)
	return f + step*math.Round((coarse-f)/step)
}

// tonePair holds the constants of leakage from one DTMF tone's bin to
// another's (see measured.leakTo), for every ordered pair.
type tonePair struct {
	rot          complex128 // e^{−j(ω_to−ω_from)/2}
	sinA, cosA   float64    // of A = N(ω_from−ω_to)/2
	sinA1, cosA1 float64    // of a = (ω_from−ω_to)/2
}

// pairs is computed once at start-up and read-only afterwards.
var pairs = func() (p [8][8]tonePair) {
	for from, ff := range toneFreqs {
		for to, ft := range toneFreqs {
			d := 2 * math.Pi * (ff - ft) / sampleRate
			p[from][to] = tonePair{
				rot:   cmplx.Rect(1, d/2),
				sinA:  math.Sin(blockLen * d / 2),
				cosA:  math.Cos(blockLen * d / 2),
				sinA1: math.Sin(d / 2),
				cosA1: math.Cos(d / 2),
			}
		}
	}
	return p
}()

// measured is a detected tone: its full-block Goertzel output y and the
// trigonometry of its frequency error ε = 2π·off/8000.
type measured struct {
	y          complex128
	sinB, cosB float64 // of B = Nε/2
	sinb, cosb float64 // of b = ε/2
	gain       float64 // Goertzel gain relative to an on-bin tone: sin B/(N sin b)
}

func measure(y complex128, off float64) measured {
	eps := 2 * math.Pi * off / sampleRate
	m := measured{y: y, gain: 1}
	m.sinB, m.cosB = math.Sincos(blockLen * eps / 2)
	m.sinb, m.cosb = math.Sincos(eps / 2)
	if math.Abs(m.sinb) > 1e-12 {
		m.gain = m.sinB / (blockLen * m.sinb)
	}
	return m
}

// leakTo returns this tone's contribution to the full-block Goertzel output
// at tone `to`, the tone being nominally tone `from`.
//
// For a component (A/2)·e^{j(vn+θ)} the outputs are
// y(ω) = e^{jω(halfLen−1)}·(A/2)·e^{jθ}·S(v−ω) with the Dirichlet kernel
// S(δ) = Σ_{n<N} e^{jδn} = e^{jδ(N−1)/2}·sin(Nδ/2)/sin(δ/2), so
// y(to) = y(from)·e^{−j(ω_to−ω_from)/2}·[sin(A+B)/sin(a+b)]/[sin B/sin b].
func (m *measured) leakTo(from, to int) complex128 {
	if math.Abs(m.gain) < 0.25 {
		return 0 // too far off frequency to model
	}
	p := &pairs[from][to]
	num := (p.sinA*m.cosB + p.cosA*m.sinB) / (p.sinA1*m.cosb + p.cosA1*m.sinb)
	return m.y * p.rot * complex(num/(m.gain*blockLen), 0)
}

// scallop is the Goertzel gain magnitude, clamped so a poor frequency
// estimate cannot inflate a level by more than 6 dB.
func (m *measured) scallop() float64 { return max(math.Abs(m.gain), 0.5) }

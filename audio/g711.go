// Package audio converts telephone audio between G.711 (μ-law, A-law) and
// 16-bit linear PCM, and reads and writes the 8 kHz mono WAV files the
// gateway's tools and tests exchange.
//
// G.711 is ITU-T Recommendation G.711 (11/88); the code follows the
// segment/mantissa formulation of Sun Microsystems' public-domain g711.c
// reference code, scaled to the full 16-bit range.
package audio

import "math/bits"

// mulawTable and alawTable map every G.711 byte to its 16-bit linear value.
// They are built once at start-up and never written afterwards.
var (
	mulawTable = buildTable(mulawDecode)
	alawTable  = buildTable(alawDecode)
)

func buildTable(decode func(byte) int16) *[256]int16 {
	var t [256]int16
	for i := range t {
		t[i] = decode(byte(i))
	}
	return &t
}

const (
	mulawBias = 0x84  // added before segment search so segment 0 has a floor
	mulawClip = 32635 // largest magnitude that survives the bias without overflow
)

func mulawDecode(u byte) int16 {
	u = ^u
	t := (int(u&0x0F) << 3) + mulawBias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(mulawBias - t)
	}
	return int16(t - mulawBias)
}

func alawDecode(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// MulawDecode returns the linear value of one G.711 μ-law byte.
func MulawDecode(b byte) int16 { return mulawTable[b] }

// AlawDecode returns the linear value of one G.711 A-law byte.
func AlawDecode(b byte) int16 { return alawTable[b] }

// MulawEncode returns the G.711 μ-law code word for s: the quantisation
// step holding s, which decodes to the step's middle. Magnitudes above
// 32 635 clip; zero encodes as 0xFF (positive zero).
func MulawEncode(s int16) byte {
	v := int(s)
	var sign byte
	if v < 0 {
		v = -v
		sign = 0x80
	}
	v = min(v, mulawClip) + mulawBias
	exp := bits.Len(uint(v)) - 8 // v >= 0x84, so at least 8 bits
	mant := byte(v>>(exp+3)) & 0x0F
	return ^(sign | byte(exp)<<4 | mant)
}

// AlawEncode returns the G.711 A-law byte for s.
func AlawEncode(s int16) byte {
	pcm := int(s) >> 3 // A-law works on 13 bits
	mask := byte(0xD5)
	if pcm < 0 {
		mask = 0x55
		pcm = -pcm - 1
	}
	seg := max(bits.Len(uint(pcm))-5, 0) // segment ends at 0x1F, 0x3F, ... 0xFFF
	if seg >= 8 {
		return 0x7F ^ mask
	}
	aval := byte(seg) << 4
	if seg < 2 {
		aval |= byte(pcm>>1) & 0x0F
	} else {
		aval |= byte(pcm>>seg) & 0x0F
	}
	return aval ^ mask
}

// DecodeMulaw appends the linear samples of the μ-law bytes in src to dst
// and returns the extended slice. Pass dst[:0] to reuse a buffer; it does
// not allocate when cap(dst) suffices.
func DecodeMulaw(dst []int16, src []byte) []int16 {
	dst = grow(dst, len(src))
	for _, b := range src {
		dst = append(dst, mulawTable[b])
	}
	return dst
}

// DecodeAlaw is DecodeMulaw for A-law bytes.
func DecodeAlaw(dst []int16, src []byte) []int16 {
	dst = grow(dst, len(src))
	for _, b := range src {
		dst = append(dst, alawTable[b])
	}
	return dst
}

// EncodeMulaw appends the μ-law encoding of src to dst.
func EncodeMulaw(dst []byte, src []int16) []byte {
	for _, s := range src {
		dst = append(dst, MulawEncode(s))
	}
	return dst
}

// EncodeAlaw appends the A-law encoding of src to dst.
func EncodeAlaw(dst []byte, src []int16) []byte {
	for _, s := range src {
		dst = append(dst, AlawEncode(s))
	}
	return dst
}

func grow(dst []int16, n int) []int16 {
	if cap(dst)-len(dst) < n {
		nd := make([]int16, len(dst), len(dst)+n)
		copy(nd, dst)
		dst = nd
	}
	return dst
}

package audio

import (
	"testing"
)

func TestG711KnownValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  int16
		want int16
	}{
		{"mulaw 0xFF is +0", MulawDecode(0xFF), 0},
		{"mulaw 0x7F is -0", MulawDecode(0x7F), 0},
		{"mulaw 0x80 is max", MulawDecode(0x80), 32124},
		{"mulaw 0x00 is min", MulawDecode(0x00), -32124},
		{"alaw 0xD5 is +8", AlawDecode(0xD5), 8},
		{"alaw 0x55 is -8", AlawDecode(0x55), -8},
		{"alaw 0xAA is max", AlawDecode(0xAA), 32256},
		{"alaw 0x2A is min", AlawDecode(0x2A), -32256},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	if got := MulawEncode(0); got != 0xFF {
		t.Errorf("MulawEncode(0) = %#x, want 0xff", got)
	}
	if got := AlawEncode(0); got != 0xD5 {
		t.Errorf("AlawEncode(0) = %#x, want 0xd5", got)
	}
}

// Every code word except μ-law's negative zero must survive decode→encode.
func TestG711RoundTripCodes(t *testing.T) {
	t.Parallel()
	for i := range 256 {
		b := byte(i)
		if b != 0x7F {
			if got := MulawEncode(MulawDecode(b)); got != b {
				t.Errorf("mulaw %#02x: decode→encode gave %#02x", b, got)
			}
		}
		if got := AlawEncode(AlawDecode(b)); got != b {
			t.Errorf("alaw %#02x: decode→encode gave %#02x", b, got)
		}
	}
}

// Encoding is monotonic and the quantisation error stays within half a
// segment step (G.711's companding law), over the whole 16-bit range.
func TestG711EncodeError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		enc    func(int16) byte
		dec    func(byte) int16
		maxRel float64
	}{
		{"mulaw", MulawEncode, MulawDecode, 1.0 / 16},
		{"alaw", AlawEncode, AlawDecode, 1.0 / 16},
	} {
		prev := -1 << 20
		for s := -32768; s <= 32767; s++ {
			d := int(c.dec(c.enc(int16(s))))
			if d < prev {
				t.Fatalf("%s: not monotonic at %d", c.name, s)
			}
			prev = d
			e := d - s
			if e < 0 {
				e = -e
			}
			mag := max(abs(s), 256)
			if float64(e) > c.maxRel*float64(mag)+16 {
				t.Fatalf("%s: %d decodes back to %d", c.name, s, d)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestDecodeMulawReusesBuffer(t *testing.T) { // not parallel: AllocsPerRun
	src := make([]byte, 160)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]int16, 0, 160)
	allocs := testing.AllocsPerRun(100, func() {
		dst = DecodeMulaw(dst[:0], src)
	})
	if allocs != 0 {
		t.Errorf("DecodeMulaw allocates %.1f times per call with enough capacity", allocs)
	}
	for i, b := range src {
		if dst[i] != MulawDecode(b) {
			t.Fatalf("sample %d: got %d, want %d", i, dst[i], MulawDecode(b))
		}
	}
	// Appending keeps what is already there.
	got := DecodeAlaw([]int16{7}, []byte{0xD5})
	if len(got) != 2 || got[0] != 7 || got[1] != 8 {
		t.Errorf("DecodeAlaw append: got %v", got)
	}
}

func BenchmarkDecodeMulaw160(b *testing.B) {
	src := make([]byte, 160)
	dst := make([]int16, 0, 160)
	b.ReportAllocs()
	for b.Loop() {
		dst = DecodeMulaw(dst[:0], src)
	}
}

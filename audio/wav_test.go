package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ramp(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16((i*997)%65536 - 32768)
	}
	return s
}

func TestWAVRoundTrip(t *testing.T) {
	t.Parallel()
	in := ramp(1001) // odd length exercises the pad byte
	for _, format := range []string{FormatPCM16, FormatMulaw, FormatAlaw} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := WriteWAV(&buf, in, SampleRate, format); err != nil {
				t.Fatal(err)
			}
			w, err := ReadWAV(&buf)
			if err != nil {
				t.Fatal(err)
			}
			want := in
			switch format {
			case FormatMulaw:
				want = DecodeMulaw(nil, EncodeMulaw(nil, in))
			case FormatAlaw:
				want = DecodeAlaw(nil, EncodeAlaw(nil, in))
			}
			if diff := cmp.Diff(&WAV{SampleRate: 8000, Channels: 1, Format: format, Samples: want}, w); diff != "" {
				t.Errorf("ReadWAV (-want +got):\n%s", diff)
			}
		})
	}
}

// wavBytes builds a WAV by hand so the reader is tested against files this
// package's writer would never produce.
func wavBytes(fmtChunk []byte, chunks ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF\x00\x00\x00\x00WAVE")
	b.Write(chunk("fmt ", fmtChunk))
	for _, c := range chunks {
		b.Write(c)
	}
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

func chunk(id string, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func fmtBody(tag, channels uint16, rate uint32, bits uint16) []byte {
	le := binary.LittleEndian
	align := channels * bits / 8
	b := le.AppendUint16(nil, tag)
	b = le.AppendUint16(b, channels)
	b = le.AppendUint32(b, rate)
	b = le.AppendUint32(b, rate*uint32(align))
	b = le.AppendUint16(b, align)
	return le.AppendUint16(b, bits)
}

func extensible(sub uint16, bits uint16) []byte {
	le := binary.LittleEndian
	b := fmtBody(tagExtensible, 1, 8000, bits)
	b = le.AppendUint16(b, 22)
	b = le.AppendUint16(b, bits)
	b = le.AppendUint32(b, 4) // SPEAKER_FRONT_CENTER
	b = le.AppendUint16(b, sub)
	return append(b, ksdataformatSubtypeTail[:]...)
}

func TestReadWAV(t *testing.T) {
	t.Parallel()
	mu := []byte{0xFF, 0x80, 0x00}
	pcm := []byte{0x01, 0x00, 0xFF, 0xFF}
	tests := []struct {
		name    string
		in      []byte
		want    *WAV
		wantErr error
	}{
		{"mulaw", wavBytes(fmtBody(7, 1, 8000, 8), chunk("data", mu)),
			&WAV{8000, 1, "mulaw", []int16{0, 32124, -32124}}, nil},
		{"skips LIST and odd unknown chunk", wavBytes(fmtBody(1, 1, 8000, 16), chunk("LIST", []byte("INFOabc")), chunk("junk", []byte{1}), chunk("data", pcm)),
			&WAV{8000, 1, "pcm16", []int16{1, -1}}, nil},
		{"extensible mulaw", wavBytes(extensible(7, 8), chunk("data", mu)),
			&WAV{8000, 1, "mulaw", []int16{0, 32124, -32124}}, nil},
		{"extensible pcm", wavBytes(extensible(1, 16), chunk("data", pcm)),
			&WAV{8000, 1, "pcm16", []int16{1, -1}}, nil},
		{"data size past EOF reads what is there", wavBytes(fmtBody(1, 1, 8000, 16), []byte("data\xff\xff\xff\x7f\x01\x00\x02\x00\x03")),
			&WAV{8000, 1, "pcm16", []int16{1, 2}}, nil},
		{"16 kHz", wavBytes(fmtBody(1, 1, 16000, 16), chunk("data", pcm)), nil, ErrUnsupported},
		{"stereo", wavBytes(fmtBody(1, 2, 8000, 16), chunk("data", pcm)), nil, ErrUnsupported},
		{"8-bit PCM", wavBytes(fmtBody(1, 1, 8000, 8), chunk("data", pcm)), nil, ErrUnsupported},
		{"float", wavBytes(fmtBody(3, 1, 8000, 32), chunk("data", pcm)), nil, ErrUnsupported},
		{"extensible float", wavBytes(extensible(3, 32), chunk("data", pcm)), nil, ErrUnsupported},
		{"not RIFF", []byte("RIFX\x00\x00\x00\x00WAVEfmt "), nil, ErrNotWAV},
		{"empty", nil, nil, ErrTruncated},
		{"no data chunk", wavBytes(fmtBody(7, 1, 8000, 8)), nil, ErrTruncated},
		{"data before fmt", append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("data", mu)...), nil, ErrNotWAV},
		{"cut in fmt", wavBytes(fmtBody(7, 1, 8000, 8))[:20], nil, ErrTruncated},
		{"cut in skipped chunk", wavBytes(fmtBody(7, 1, 8000, 8), []byte("LIST\x10\x00\x00\x00ab")), nil, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadWAV(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadWAV (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteWAVRejectsUnknownFormat(t *testing.T) {
	t.Parallel()
	if err := WriteWAV(&bytes.Buffer{}, nil, 8000, "opus"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("error = %v, want ErrUnsupported", err)
	}
}

func FuzzReadWAV(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteWAV(&buf, ramp(20), 8000, FormatMulaw)
	f.Add(buf.Bytes())
	f.Add(wavBytes(extensible(1, 16), chunk("data", []byte{1, 2, 3, 4})))
	f.Add(wavBytes(fmtBody(1, 1, 8000, 16), chunk("LIST", []byte("x")), chunk("data", []byte{1, 2})))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ReadWAV(bytes.NewReader(b))
		if err != nil {
			if w != nil {
				t.Fatal("non-nil WAV with an error")
			}
			return
		}
		if w.SampleRate != SampleRate || w.Channels != 1 {
			t.Fatalf("accepted %d Hz, %d channels", w.SampleRate, w.Channels)
		}
		if len(w.Samples) > len(b) {
			t.Fatalf("%d samples from %d bytes", len(w.Samples), len(b))
		}
		// What was read must write and read back identically (as PCM).
		var out bytes.Buffer
		if err := WriteWAV(&out, w.Samples, w.SampleRate, FormatPCM16); err != nil {
			t.Fatal(err)
		}
		w2, err := ReadWAV(&out)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(w.Samples, w2.Samples, cmp.Comparer(func(a, b []int16) bool { return string(i16b(a)) == string(i16b(b)) })) {
			t.Fatal("PCM rewrite changed the samples")
		}
	})
}

func i16b(s []int16) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, v := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

package dtmf

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ivr-gateway/ivr/audio"
)

var update = flag.Bool("update", false, "rewrite testdata/battery (WAV files and golden.jsonl)")

// batteryFiles are battery cases kept as WAV files, so ScanWAV (and through
// it `ivr dtmf`) is checked on the same signals as the in-memory battery.
var batteryFiles = []struct {
	file   string
	format string
	sig    signal
	want   string
}{
	{"keys_50ms_pcm16.wav", audio.FormatPCM16, signal{bursts: keyString(allKeys, 50, 50), leadMS: 200, tailMS: 200}, allKeys},
	{"pin_40ms_mulaw.wav", audio.FormatMulaw, signal{bursts: keyString("159#", 40, 50), leadMS: 123, tailMS: 200}, "159#"},
	{"snr15_alaw.wav", audio.FormatAlaw, signal{bursts: keyString("0123456789", 40, 50), snrDB: 15, seed: 15, leadMS: 300, tailMS: 300}, "0123456789"},
	{"offset_1.5pct_mulaw.wav", audio.FormatMulaw, signal{bursts: []burst{
		{digit: '*', onMS: 50, offMS: 50, lowOff: 0.015, highOff: -0.015},
		{digit: '#', onMS: 50, offMS: 50, lowOff: -0.015, highOff: 0.015},
	}, leadMS: 100, tailMS: 100}, "*#"},
	{"offset_3.5pct_mulaw.wav", audio.FormatMulaw, signal{bursts: []burst{
		{digit: '*', onMS: 50, offMS: 50, lowOff: 0.035},
		{digit: '#', onMS: 50, offMS: 50, highOff: -0.035},
	}, leadMS: 100, tailMS: 100}, ""},
	{"twist_8db_mulaw.wav", audio.FormatMulaw, signal{bursts: keyString("ABCD", 50, 50), twistDB: 8, leadMS: 100, tailMS: 100}, "ABCD"},
	{"tones_20ms_mulaw.wav", audio.FormatMulaw, signal{bursts: keyString("2468", 20, 50), leadMS: 100, tailMS: 100}, ""},
}

func TestBatteryWAVGolden(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "battery")
	golden := filepath.Join(dir, "golden.jsonl")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, bf := range batteryFiles {
			var buf bytes.Buffer
			if err := audio.WriteWAV(&buf, bf.sig.synth(t), sampleRate, bf.format); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, bf.file), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var out strings.Builder
	for _, bf := range batteryFiles {
		f, err := os.Open(filepath.Join(dir, bf.file))
		if err != nil {
			t.Fatal(err)
		}
		res, err := ScanWAV(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", bf.file, err)
		}
		res.File = bf.file
		if res.Digits != bf.want {
			t.Errorf("%s: digits %q, want %q", bf.file, res.Digits, bf.want)
		}
		line, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("ScanWAV output differs from %s (-want +got); rerun with -update if intended:\n%s", golden, diff)
	}
}

func TestScanJSONShape(t *testing.T) {
	t.Parallel()
	res := Scan(make([]int16, 8000))
	res.File = "silence.wav"
	got, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"file":"silence.wav","digits":"","events":[]}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestScanWAVErrors(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := audio.WriteWAV(&buf, make([]int16, 100), 16000, audio.FormatPCM16); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"16 kHz", buf.Bytes(), audio.ErrUnsupported},
		{"not a WAV", []byte("ID3\x03 an mp3, say"), audio.ErrNotWAV},
		{"truncated", buf.Bytes()[:30], audio.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ScanWAV(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "dtmf: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ivr-gateway/ivr/dtmf"
)

// TestDTMFCommand runs `ivr dtmf` over the detector's battery (whose expected
// results are dtmf/testdata/battery/golden.jsonl) and over the talk-off
// speech clips, which must yield no digit (the output format of `ivr dtmf`
// in the README).
func TestDTMFCommand(t *testing.T) {
	golden := map[string]dtmf.Result{}
	f, err := os.Open("../../dtmf/testdata/battery/golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r dtmf.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		golden[r.File] = r
	}
	battery, _ := filepath.Glob("../../dtmf/testdata/battery/*.wav")
	talkoff, _ := filepath.Glob("../../dtmf/testdata/talkoff/*.wav")
	if len(battery) == 0 || len(talkoff) == 0 {
		t.Fatal("no WAV files")
	}
	var out, errb bytes.Buffer
	if err := Run(context.Background(), append(append([]string{"dtmf"}, battery...), talkoff...), envOf(nil), nil, &out, &errb); err != nil {
		t.Fatalf("ivr dtmf: %v\n%s", err, errb.String())
	}
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != len(battery)+len(talkoff) {
		t.Fatalf("%d lines for %d files", len(lines), len(battery)+len(talkoff))
	}
	for _, line := range lines {
		var r dtmf.Result
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		base := filepath.Base(r.File)
		if want, ok := golden[base]; ok {
			got, _ := json.Marshal(dtmf.Result{File: base, Digits: r.Digits, Events: r.Events})
			exp, _ := json.Marshal(want)
			if !bytes.Equal(got, exp) {
				t.Errorf("%s:\n got  %s\n want %s", base, got, exp)
			}
			continue
		}
		if r.Digits != "" || len(r.Events) != 0 {
			t.Errorf("talk-off %s: heard %q in speech", base, r.Digits)
		}
	}
	// A file that is not a WAV: reported on stderr, exit status non-zero.
	bad := filepath.Join(t.TempDir(), "bad.wav")
	os.WriteFile(bad, []byte("not a wav"), 0o644)
	if err := Run(context.Background(), []string{"dtmf", bad}, envOf(nil), nil, &out, &errb); err == nil {
		t.Error("ivr dtmf on a non-WAV file succeeded")
	}
}

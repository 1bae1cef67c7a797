package dtmf

import (
	"fmt"
	"io"

	"github.com/ivr-gateway/ivr/audio"
)

// Result is the outcome of scanning one recording: the JSON object
// `ivr dtmf` prints per file (the README's `ivr dtmf`).
type Result struct {
	File   string        `json:"file"`
	Digits string        `json:"digits"`
	Events []ResultEvent `json:"events"`
}

// ResultEvent is one key press in a Result.
type ResultEvent struct {
	Digit string `json:"digit"`
	OnMS  int64  `json:"on_ms"`
}

// Scan runs a fresh Detector over a whole 8 kHz recording. File is left
// empty for the caller to fill; Events is never nil, so it marshals as [].
func Scan(samples []int16) Result {
	res := Result{Events: []ResultEvent{}}
	var digits []byte
	NewDetector().Write(samples, func(ev Event) {
		digits = append(digits, ev.Digit)
		res.Events = append(res.Events, ResultEvent{Digit: string(ev.Digit), OnMS: ev.OnMS})
	})
	res.Digits = string(digits)
	return res
}

// ScanWAV reads an 8 kHz mono WAV (μ-law, A-law or 16-bit PCM) and scans
// it. Errors wrap those of audio.ReadWAV (audio.ErrUnsupported and so on).
func ScanWAV(r io.Reader) (Result, error) {
	w, err := audio.ReadWAV(r)
	if err != nil {
		return Result{}, fmt.Errorf("dtmf: %w", err)
	}
	return Scan(w.Samples), nil
}

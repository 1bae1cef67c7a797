// Package promptaudio holds every prompt of the catalogue (prompts/*.json)
// rendered as 8 kHz μ-law audio, for transports that play audio themselves
// (Media Streams) instead of asking Twilio to <Say> the text.
//
// The clips are rendered once by `go generate` (gen.go, espeak-ng and sox)
// and committed, so builds need neither tool.
package promptaudio

import "embed"

//go:generate go run gen.go

//go:embed */*.ulaw
var clips embed.FS

// Clip returns the raw 8 kHz μ-law audio (no header) of prompt id in
// language lang ("en-US", "es-US"), or nil when there is none. The slice is
// shared: do not modify it.
func Clip(lang, id string) []byte {
	b, err := clips.ReadFile(lang + "/" + id + ".ulaw")
	if err != nil {
		return nil
	}
	return b
}

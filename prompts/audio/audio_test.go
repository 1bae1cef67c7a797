package promptaudio

import (
	"testing"

	"github.com/ivr-gateway/ivr/dtmf"
	"github.com/ivr-gateway/ivr/prompts"
)

// TestEveryPromptHasAClip checks that the committed clips cover the
// catalogue (run `go generate` after editing a prompt), are whole 8 kHz
// clips of plausible length, and hold nothing the in-band DTMF detector
// would take for a key (a prompt echoed back must not answer a question).
func TestEveryPromptHasAClip(t *testing.T) {
	cat, err := prompts.Load("en-US")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range cat.Languages() {
		for _, id := range prompts.All() {
			clip := Clip(lang, string(id))
			if len(clip) < 8000/2 || len(clip) > 8000*30 {
				t.Errorf("%s/%s: %d bytes, want 0.5 s to 30 s of 8 kHz audio", lang, id, len(clip))
				continue
			}
			d := dtmf.NewDetector()
			d.WriteMulaw(clip, func(e dtmf.Event) { t.Errorf("%s/%s: detector heard a key at %d ms", lang, id, e.OnMS) })
		}
	}
	if Clip("en-US", "no-such-prompt") != nil || Clip("../x", "y") != nil {
		t.Error("Clip of an unknown prompt is not nil")
	}
}

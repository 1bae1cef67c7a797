//go:build ignore

// gen renders every prompt of ../*.json to <lang>/<id>.ulaw: 8 kHz mono
// G.711 μ-law, no header, the format Twilio Media Streams play. It needs
// espeak-ng and sox (Debian: apt-get install espeak-ng sox).
//
// Placeholders cannot be rendered ahead of time: a sentence holding one
// ({org} in the greeting, {date} in the read-back) is left out, so the clip
// is the generic form of the prompt ("Press 1 if that is right, ...").
//
//	go generate ./prompts/audio
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// voices maps a catalogue language to an espeak-ng voice.
var voices = map[string]string{"en-US": "en-us", "es-US": "es-419"}

var sentence = regexp.MustCompile(`[^.!?]*[.!?]\s*`)

// fixedPart drops the sentences that hold a {placeholder}.
func fixedPart(text string) string {
	if !strings.Contains(text, "{") {
		return text
	}
	var b strings.Builder
	for _, s := range sentence.FindAllString(text, -1) {
		if !strings.Contains(s, "{") {
			b.WriteString(s)
		}
	}
	return strings.TrimSpace(b.String())
}

func main() {
	files, err := filepath.Glob("../*.json")
	if err != nil || len(files) == 0 {
		log.Fatalf("gen: no prompt catalogue in ..: %v", err)
	}
	tmp, err := os.MkdirTemp("", "promptaudio")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		var cat struct {
			Language string            `json:"language"`
			Prompts  map[string]string `json:"prompts"`
		}
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		if err := json.Unmarshal(b, &cat); err != nil {
			log.Fatalf("gen: %s: %v", f, err)
		}
		voice, ok := voices[cat.Language]
		if !ok {
			log.Fatalf("gen: no espeak-ng voice for %s", cat.Language)
		}
		if err := os.MkdirAll(cat.Language, 0o755); err != nil {
			log.Fatal(err)
		}
		ids := make([]string, 0, len(cat.Prompts))
		for id := range cat.Prompts {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			text := fixedPart(cat.Prompts[id])
			wav := filepath.Join(tmp, id+".wav")
			out := filepath.Join(cat.Language, id+".ulaw")
			run("espeak-ng", "-v", voice, "-s", "165", "-w", wav, text)
			// Resample to 8 kHz, band-limit to the telephone band, leave
			// headroom, encode μ-law without a header.
			run("sox", wav, "-r", "8000", "-c", "1", "-e", "mu-law", "-t", "raw", out,
				"highpass", "300", "lowpass", "3400", "gain", "-n", "-3")
			fmt.Printf("%s/%s\n", cat.Language, id)
		}
	}
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("gen: %s: %v", name, err)
	}
}

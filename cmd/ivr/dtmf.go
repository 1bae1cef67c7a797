package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ivr-gateway/ivr/dtmf"
)

// runDTMF prints, for each WAV file, the keypad tones the gateway's in-band
// detector hears (the README's commands table): one JSON object per file
// per line.
func runDTMF(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dtmf", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ivr dtmf FILE.wav...\n\nPrints the keypad tones found in each 8 kHz WAV file (16-bit PCM, μ-law or A-law) as JSON lines.")
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	enc := json.NewEncoder(stdout)
	failed := 0
	for _, path := range fs.Args() {
		res, err := scanFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "ivr dtmf: %s: %v\n", path, err)
			failed++
			continue
		}
		res.File = path
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	if failed > 0 {
		return errors.New("dtmf: some files could not be read")
	}
	return nil
}

func scanFile(path string) (dtmf.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return dtmf.Result{}, err
	}
	defer f.Close()
	return dtmf.ScanWAV(f)
}

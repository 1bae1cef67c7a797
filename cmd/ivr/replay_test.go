package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/ivr-gateway/ivr/internal/redistest"
)

// TestReplayAllFixtures runs `ivr replay` in process over every recorded call.
func TestReplayAllFixtures(t *testing.T) {
	fixtures, err := filepath.Glob("../../telephony/testdata/calls/*.jsonl")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	env := func(k string) string {
		if k == "REDIS_URL" {
			return redistest.URL()
		}
		return ""
	}
	var out, errOut bytes.Buffer
	err = Run(context.Background(), append([]string{"replay"}, fixtures...), env, nil, &out, &errOut)
	if err != nil {
		t.Fatalf("ivr replay: %v\n%s%s", err, out.String(), errOut.String())
	}
	want := regexp.MustCompile(`(?m)^` + strconv.Itoa(len(fixtures)) + ` passed, 0 failed$`)
	if !want.Match(out.Bytes()) {
		t.Errorf("ivr replay output:\n%s", out.String())
	}
}

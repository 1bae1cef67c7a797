package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// runFlow prints the call flow, drawn by walking the dialog's own state
// machine (dialog.WalkFlow). It reads flags only, never the environment, so
// the README's diagram is what `go run ./cmd/ivr flow` prints anywhere.
func runFlow(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flow", flag.ContinueOnError)
	format := fs.String("format", "mermaid", "mermaid (a flowchart GitHub renders) or dot (Graphviz: ivr flow -format dot | dot -Tsvg)")
	langs := fs.String("lang", "en-US,es-US", "languages offered at the greeting, default first, as IVR_LANGUAGES (one language: no language menu)")
	fallback := fs.Bool("fallback", true, "a fallback number is configured (IVR_FALLBACK_NUMBER): the failure path transfers; false: goodbye and hang-up")
	attempts := fs.Int("max-attempts", dialog.DefaultConfig().MaxAttempts, "verification attempts per call, as IVR_MAX_ATTEMPTS")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ivr flow [-format mermaid|dot] [-lang en-US,es-US] [-fallback=true|false] [-max-attempts N]\n\nPrints the call flow, drawn from the dialog's state machine.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if *format != "mermaid" && *format != "dot" {
		return fmt.Errorf("flow: -format %q: want mermaid or dot", *format)
	}
	if *attempts < 1 {
		return errors.New("flow: -max-attempts must be at least 1")
	}
	cat, err := prompts.Load("en-US")
	if err != nil {
		return err
	}
	var languages []kba.Lang
	for _, l := range splitList(*langs) {
		if !cat.Has(l) {
			return fmt.Errorf("flow: language %q has no prompt catalogue (have %s)", l, strings.Join(cat.Languages(), ", "))
		}
		languages = append(languages, kba.Lang(l))
	}
	if len(languages) == 0 {
		return errors.New("flow: -lang names no language")
	}
	m := dialog.New(dialog.Config{Languages: languages, MaxAttempts: *attempts, HasFallback: *fallback})
	f, err := dialog.WalkFlow(m, dialog.FlowClasses())
	if err != nil {
		return err
	}
	out := f.Mermaid()
	if *format == "dot" {
		out = f.Dot()
	}
	_, err = stdout.Write(out)
	return err
}

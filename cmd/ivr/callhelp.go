package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/prompts"
)

// callUsage is `ivr call -h`: the flags, and the answers a script or the
// keyboard may give.
func callUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `usage: ivr call [flags]

Dials a gateway as Twilio would (signed webhooks, TwiML followed) and shows
what the caller hears. Interactively, type keys for the keypad (01051980),
words for speech (Maria Garcia), nothing for silence, or hangup.

A script (-script FILE, or - for stdin) gives one answer per line:
  dtmf:01051980        keys pressed on the keypad (0-9, * and #)
  say:Maria Garcia     words spoken, recogniser confidence 0.9
  say@0.3:Maria Garcia words spoken with a low recogniser confidence (0 to 1)
  silence              no answer: the question times out
  hangup               the caller hangs up (hangup:busy, hangup:no-answer, ...
                       for another final call status)
  # ...                a comment; blank lines are skipped
When the script runs out the caller hangs up. The exit status is 0 when the
call ended verified, 1 otherwise, 130 when interrupted (Ctrl-C hangs up
first, as a caller would).

Flags:
`)
	fs.PrintDefaults()
}

// answers reads interactive answers in the background, so Ctrl-C is
// heard while the terminal waits for a line. The channel closes at the end
// of the input.
func answers(r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// nextAnswer waits for the next interactive answer; ok is false at the end
// of the input or when ctx ends.
func nextAnswer(ctx context.Context, in <-chan string) (s string, ok bool) {
	select {
	case s, ok = <-in:
		return s, ok
	case <-ctx.Done():
		return "", false
	}
}

// hangUpInterrupted ends an interrupted call as a caller hanging up does:
// the status callback with CallStatus=completed, so the gateway ends the
// call (and revokes its token) at once instead of leaving it open for two
// hours. The callback gets a few seconds of its own, since ctx has ended.
func hangUpInterrupted(ctx context.Context, call *twiliosim.Call, stdout, stderr io.Writer) error {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	fmt.Fprintln(stdout, "\nInterrupted: hanging up.")
	if err := call.Hangup(hctx, "completed"); err != nil && !errors.Is(err, twiliosim.ErrCallEnded) {
		fmt.Fprintf(stderr, "status callback: %v\n", err)
	}
	return exitCode(130)
}

// verdict tells a verified call from a failed one by what the call did,
// for when the agent API cannot be asked (no -agent-key): the caller heard
// the "you are verified" prompt, and then the gateway ended the call
// itself (a hand-off <Redirect> or <Dial>, or, with no hand-off configured,
// <Hangup/>). The failure path ends with a goodbye or a transfer instead,
// and never says the verified prompt.
type verdict struct {
	said  map[string]bool // the verified prompt, in every language
	heard bool
}

func newVerdict() *verdict {
	v := &verdict{said: map[string]bool{string(prompts.Verified): true}} // a Media Stream names prompts by ID
	if cat, err := prompts.Load("en-US"); err == nil {
		for _, l := range cat.Languages() {
			v.said[cat.Text(l, prompts.Verified)] = true
		}
	}
	return v
}

// observe notes what the caller heard in a turn.
func (v *verdict) observe(t *twiliosim.Turn) {
	for _, u := range t.Heard {
		if v.said[strings.TrimSpace(u.Text)] {
			v.heard = true
		}
	}
}

// verified reports the verdict on the call's last turn.
func (v *verdict) verified(last *twiliosim.Turn) bool {
	if !v.heard || !last.Ended {
		return false
	}
	switch end := last.End; {
	case end == "hangup", end == "no-twiml", strings.HasPrefix(end, "redirect:"), strings.HasPrefix(end, "dial:"):
		return true
	}
	return false
}

// explainEnd is one sentence after Twilio's error code naming the likely
// cause of a call the gateway could not take, and the flag to check; ""
// when the end is not such an error.
func explainEnd(end, base, public string) string {
	switch {
	case end == "error:11205 connection failure":
		return fmt.Sprintf("Nothing answers at -url %s: start the gateway (ivr serve or ivr demo), or point -url at the address it listens on.", base)
	case end == "error:11200 HTTP 403":
		return fmt.Sprintf("The gateway refused the signature: -token must equal the gateway's TWILIO_AUTH_TOKEN, and -public-url (now %s) its IVR_PUBLIC_URL.", public)
	case end == "error:11200 HTTP 404" || end == "error:11200 HTTP 405":
		return fmt.Sprintf("Something answers at -url %s, but not a gateway's /twilio/voice: -url must be the gateway's base URL (the address of ivr serve, not of the AS or the MCP server).", base)
	case end == "error:11200 URL outside PublicURL":
		return fmt.Sprintf("The gateway's TwiML points outside -public-url %s: -public-url must equal the gateway's IVR_PUBLIC_URL.", public)
	case end == "error:12100 document parse failure":
		return fmt.Sprintf("-url %s answered with something that is not TwiML: is it the gateway?", base)
	case strings.HasPrefix(end, "error:11200 HTTP 5"):
		return "The gateway failed to answer the webhook: its log says why."
	case strings.HasPrefix(end, "error:"):
		return "The gateway's answer made the call fail as it would on Twilio; its log and `ivr call -h` may help."
	}
	return ""
}

// firstAgentKey is the bearer key of the first IVR_AGENT_KEYS entry, the
// default agent key of ivr call and ivr replay: an entry is "name:key" or
// a bare key (agentapi), and only the key is sent.
func firstAgentKey(env environ) string {
	e := firstOf(splitList(env("IVR_AGENT_KEYS")))
	if _, key, named := strings.Cut(e, ":"); named {
		return strings.TrimSpace(key)
	}
	return e
}

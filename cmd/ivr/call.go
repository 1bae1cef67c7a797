package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ivr-gateway/ivr/agent"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// runCall is the terminal phone (the README's "A 60-second tour"): it
// dials a gateway as Twilio would, shows what the caller hears, and takes
// keys and speech from the terminal or a script.
func runCall(ctx context.Context, args []string, env environ, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.Usage = func() { callUsage(fs.Output(), fs) }
	base := fs.String("url", env.or("IVR_CALL_URL", "http://127.0.0.1:8080"), "gateway base URL")
	public := fs.String("public-url", env("IVR_PUBLIC_URL"), "the gateway's IVR_PUBLIC_URL, which requests are signed for (default: -url)")
	token := fs.String("token", env("TWILIO_AUTH_TOKEN"), "Twilio auth token the gateway checks signatures with (TWILIO_AUTH_TOKEN)")
	from := fs.String("from", "+15555550123", "caller number (E.164)")
	script := fs.String("script", "", "file of answers, one per line (dtmf:01051980, say:Maria Garcia, say@0.3:Maria Garcia, silence, hangup); - for stdin")
	agentKey := fs.String("agent-key", firstAgentKey(env), "agent API key: after a verified call, fetch the token as the agent would (IVR_AGENT_KEYS)")
	mcpURL := fs.String("mcp-url", env("IVR_RESOURCE"), "MCP server URL: with -agent-key, call its whoami tool with the token (IVR_RESOURCE)")
	keys := fs.String("keys", twiliosim.KeysEvents, "on a Media Stream (IVR_TRANSPORT=stream), how keys are pressed: events (dtmf messages), tones (in-band audio) or both")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *public == "" {
		*public = *base
	}
	if *token == "" {
		return errors.New("call: the gateway's Twilio auth token is needed to sign requests (-token or TWILIO_AUTH_TOKEN)")
	}
	var lines []twiliosim.ScriptLine
	if *script != "" {
		r := stdin
		if *script != "-" {
			f, err := os.Open(*script)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		var err error
		if lines, err = twiliosim.ParseScript(r); err != nil {
			return err
		}
	}
	call, turn, err := twiliosim.Dial(ctx, twiliosim.Config{
		BaseURL: *base, PublicURL: *public, AuthToken: *token, From: *from, PauseScale: 1, StreamKeys: *keys,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Calling %s as %s (call %s)\n", *public, *from, call.Sid())
	var in <-chan string
	if lines == nil {
		in = answers(stdin)
	}
	v := newVerdict()
	for {
		show(stdout, turn)
		v.observe(turn)
		if turn.Ended {
			if why := explainEnd(turn.End, *base, *public); why != "" {
				fmt.Fprintf(stdout, "  %s\n", why)
			}
			break
		}
		if ctx.Err() != nil {
			return hangUpInterrupted(ctx, call, stdout, stderr)
		}
		var line twiliosim.ScriptLine
		if lines != nil {
			if len(lines) == 0 {
				fmt.Fprintln(stdout, "(script ended; hanging up)")
				line = twiliosim.ScriptLine{Kind: twiliosim.KindHangup, Value: "completed"}
			} else {
				line, lines = lines[0], lines[1:]
				fmt.Fprintf(stdout, "  > %s\n", describe(line))
			}
		} else {
			fmt.Fprint(stdout, "  keys or words (empty = silence, 'hangup' to end)> ")
			text, ok := nextAnswer(ctx, in)
			switch {
			case ctx.Err() != nil:
				return hangUpInterrupted(ctx, call, stdout, stderr)
			case !ok:
				line = twiliosim.ScriptLine{Kind: twiliosim.KindHangup, Value: "completed"}
			default:
				line = interpret(text)
			}
		}
		if turn, err = call.Do(ctx, line); err != nil {
			if ctx.Err() != nil {
				return hangUpInterrupted(ctx, call, stdout, stderr)
			}
			return err
		}
	}
	// Without the agent API, what the call did decides (newVerdict).
	verified := v.verified(turn)
	if *agentKey != "" {
		if st, err := callState(ctx, *base, *agentKey, call.Sid()); err == nil {
			verified = st == "verified"
			fmt.Fprintf(stdout, "Gateway says the call is %s.\n", st)
		}
	}
	if verified && *agentKey != "" && *mcpURL != "" {
		fmt.Fprintln(stdout, "\nThe agent takes the call: it fetches the token by call SID and calls the MCP server.")
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		// The agent's spans join the call's trace (OTEL_* as for the other commands).
		tr, flushTraces, err := startTracing(ctx, env, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			cancel()
			return err
		}
		err = agent.Run(actx, agent.Config{GatewayURL: *base, AgentKey: *agentKey, MCPURL: *mcpURL,
			TracerProvider: tr.Provider("ivr-agent")}, call.Sid(), stdout)
		flushTraces()
		cancel()
		if ctx.Err() != nil {
			return hangUpInterrupted(ctx, call, stdout, stderr)
		}
		if err != nil {
			fmt.Fprintf(stdout, "agent: %v\n", err)
			verified = false
		}
	}
	if err := call.Hangup(ctx, "completed"); err != nil && !errors.Is(err, twiliosim.ErrCallEnded) {
		if ctx.Err() != nil {
			return hangUpInterrupted(ctx, call, stdout, stderr)
		}
		if !strings.HasPrefix(turn.End, "error:") { // the gateway refused the call already, and was told why
			fmt.Fprintf(stderr, "status callback: %v\n", err)
		}
	}
	if verified {
		fmt.Fprintln(stdout, "Call verified.")
		return nil
	}
	fmt.Fprintf(stdout, "Call not verified (%s).\n", turn.End)
	return exitCode(1)
}

func show(w io.Writer, t *twiliosim.Turn) {
	for _, u := range t.Heard {
		tag := u.Language
		if tag == "" {
			tag = u.Voice // a Media Stream's prompt, heard by its ID
		}
		fmt.Fprintf(w, "  [%s] %s\n", tag, u.Text)
	}
	if t.Ended {
		fmt.Fprintf(w, "  -- call ended: %s\n", t.End)
	}
}

// describe shows a script line; answers are the user's own input, printed
// back so a scripted run reads like a transcript.
func describe(l twiliosim.ScriptLine) string {
	if l.Value == "" {
		return l.Kind
	}
	return l.Kind + ":" + l.Value
}

// interpret reads one interactive answer: keypad characters are key
// presses, anything else is speech.
func interpret(s string) twiliosim.ScriptLine {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return twiliosim.ScriptLine{Kind: twiliosim.KindSilence}
	case s == "hangup":
		return twiliosim.ScriptLine{Kind: twiliosim.KindHangup, Value: "completed"}
	case strings.Trim(s, "0123456789*#") == "":
		return twiliosim.ScriptLine{Kind: twiliosim.KindDTMF, Value: s}
	}
	return twiliosim.ScriptLine{Kind: twiliosim.KindSay, Value: s, Confidence: twiliosim.DefaultConfidence}
}

func callState(ctx context.Context, base, key, sid string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/v1/calls/"+sid, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		State string `json:"state"`
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("agent API: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("agent API: %w", err)
	}
	return body.State, nil
}

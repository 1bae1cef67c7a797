package phone

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/ivr-gateway/ivr/agent"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/prompts"
)

// Bounds of what the page may send.
const (
	maxKeys    = 32  // keys in one answer
	maxSpeech  = 300 // characters of one spoken answer
	maxBodyLen = 4 << 10
)

// stepRequest is what the page sends for one step of a call: Kind is
// "dtmf" (Value the keys), "say" (Value the words, Confidence from 0 to
// 1, default twiliosim.DefaultConfidence), "silence" or "hangup".
type stepRequest struct {
	Kind       string   `json:"kind"`
	Value      string   `json:"value,omitempty"`
	Confidence *float64 `json:"confidence,omitempty"`
}

// errBadStep is wrapped by every parseStep error; the messages say what
// is wrong, never the answer itself.
var errBadStep = errors.New("phone: bad step")

// parseStep reads and checks one step request body. Errors wrap
// errBadStep.
func parseStep(body []byte) (twiliosim.ScriptLine, error) {
	var r stepRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return twiliosim.ScriptLine{}, fmt.Errorf("%w: not a JSON step object", errBadStep)
	}
	if dec.More() {
		return twiliosim.ScriptLine{}, fmt.Errorf("%w: one JSON object expected", errBadStep)
	}
	if r.Confidence != nil && r.Kind != twiliosim.KindSay {
		return twiliosim.ScriptLine{}, fmt.Errorf("%w: a confidence goes with say only", errBadStep)
	}
	switch r.Kind {
	case twiliosim.KindDTMF:
		if r.Value == "" || len(r.Value) > maxKeys || strings.Trim(r.Value, "0123456789*#") != "" {
			return twiliosim.ScriptLine{}, fmt.Errorf("%w: dtmf takes 1 to %d of the keys 0-9, * and #", errBadStep, maxKeys)
		}
		return twiliosim.ScriptLine{Kind: r.Kind, Value: r.Value}, nil
	case twiliosim.KindSay:
		v := strings.TrimSpace(r.Value)
		if v == "" || !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxSpeech || strings.ContainsFunc(v, isControl) {
			return twiliosim.ScriptLine{}, fmt.Errorf("%w: say takes 1 to %d characters of text (silence for none)", errBadStep, maxSpeech)
		}
		conf := twiliosim.DefaultConfidence
		if r.Confidence != nil {
			conf = *r.Confidence
			if !(conf >= 0 && conf <= 1) {
				return twiliosim.ScriptLine{}, fmt.Errorf("%w: confidence must be from 0 to 1", errBadStep)
			}
		}
		return twiliosim.ScriptLine{Kind: r.Kind, Value: v, Confidence: conf}, nil
	case twiliosim.KindSilence, twiliosim.KindHangup:
		if r.Value != "" {
			return twiliosim.ScriptLine{}, fmt.Errorf("%w: %s takes no value", errBadStep, r.Kind)
		}
		if r.Kind == twiliosim.KindHangup {
			return twiliosim.ScriptLine{Kind: r.Kind, Value: "completed"}, nil
		}
		return twiliosim.ScriptLine{Kind: r.Kind}, nil
	}
	return twiliosim.ScriptLine{}, fmt.Errorf("%w: kind must be dtmf, say, silence or hangup", errBadStep)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// view is the page's picture of a call after a step.
type view struct {
	ID      string  `json:"id"`
	CallSid string  `json:"call_sid"`
	Heard   []heard `json:"heard"`
	// Waiting says what the call waits for: "dtmf speech" (a <Gather>'s
	// input), "stream" or "relay" (a WebSocket session), "" when ended.
	Waiting string `json:"waiting,omitempty"`
	Ended   bool   `json:"ended"`
	End     string `json:"end,omitempty"`
	// State and Attempts are the gateway's, from the agent API
	// (collecting, verifying, verified, failed, ended).
	State    string `json:"state,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	// Outcome is "verified" or "not verified" once the call has ended.
	Outcome    string       `json:"outcome,omitempty"`
	Agent      []toolResult `json:"agent,omitempty"`
	AgentError string       `json:"agent_error,omitempty"`
}

// heard is one thing the caller heard. A Media Stream's prompt is heard
// by its ID (Prompt); Text is then the catalogue's wording of it.
type heard struct {
	Text     string `json:"text"`
	Language string `json:"language,omitempty"`
	Voice    string `json:"voice,omitempty"`
	Prompt   string `json:"prompt,omitempty"`
}

// toolResult is one MCP tool's structured result, as the agent got it.
type toolResult struct {
	Tool   string          `json:"tool"`
	Result json.RawMessage `json:"result"`
}

// callState is the gateway's state of a call (GET /v1/calls/{CallSid}).
type callState struct {
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
}

// step plays one line of a call and, when the call ends, finishes it.
// c.mu is held.
func (s *Server) step(c *session, line twiliosim.ScriptLine) (*view, error) {
	// The browser's request does not bound the call: a closed tab must
	// not leave it half-way through a webhook round.
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	c.active = s.cfg.Now()
	s.arm(c, c.active)
	if line.Kind == twiliosim.KindHangup {
		// The gateway's state as the caller left, then the status callback.
		v := &view{ID: c.id, CallSid: c.call.Sid(), Ended: true, End: "caller-hangup"}
		s.readState(ctx, c, v)
		s.drop(c, whyCaller)
		v.Outcome = outcome(v.State)
		return v, nil
	}
	turn, err := c.call.Do(ctx, line)
	if err != nil {
		s.drop(c, whyError)
		return nil, fmt.Errorf("phone: step: %w", err)
	}
	v := s.render(c, turn)
	s.readState(ctx, c, v)
	if turn.Ended {
		s.finish(ctx, c, v)
	}
	return v, nil
}

// placeholder is a {name} in a prompt's wording: a Media Stream's audio
// says what fills it (a date), which its mark does not tell.
var placeholder = regexp.MustCompile(`\{(\w+)\}`)

// render turns a twiliosim turn into the page's view.
func (s *Server) render(c *session, t *twiliosim.Turn) *view {
	v := &view{ID: c.id, CallSid: c.call.Sid(), Heard: []heard{}, Ended: t.Ended, End: t.End}
	for _, u := range t.Heard {
		h := heard{Text: u.Text, Language: u.Language, Voice: u.Voice}
		if u.Voice == twiliosim.SessionStream && u.Language == "" {
			// A Media Stream plays audio the simulator cannot transcribe;
			// its mark names the prompt, in the language last heard.
			h.Prompt = u.Text
			h.Text = placeholder.ReplaceAllString(s.prompts.Text(c.lang, prompts.ID(u.Text)), "[$1]")
			h.Language = c.lang
			if h.Text == "" {
				h.Text = "[" + u.Text + "]"
			}
		}
		if h.Language != "" && s.prompts.Has(h.Language) {
			c.lang = h.Language
		}
		v.Heard = append(v.Heard, h)
	}
	switch {
	case t.Ended:
	case t.Gather != nil:
		v.Waiting = t.Gather.Input
	default:
		v.Waiting = t.Session
	}
	return v
}

// finish ends a call the gateway ended: the verdict (the gateway's state
// before the hang-up), the agent for a verified call (its token is
// revoked at the hang-up, as with `ivr call`), then the status callback.
// c.mu is held.
func (s *Server) finish(ctx context.Context, c *session, v *view) {
	v.Outcome = outcome(v.State)
	if v.Outcome == "verified" && s.cfg.MCPURL != "" {
		v.Agent, v.AgentError = s.runAgent(ctx, c.call.Sid())
	}
	s.drop(c, whyEnded)
	s.log.LogAttrs(ctx, slog.LevelInfo, "phone call ended", slog.String("call_sid", v.CallSid),
		slog.String("end", endKind(v.End)), slog.String("outcome", v.Outcome), slog.Bool("agent_ok", len(v.Agent) > 0))
}

func outcome(state string) string {
	if state == "verified" {
		return "verified"
	}
	return "not verified"
}

// endKind is a turn's end without what follows the colon (a number
// dialled, a URL).
func endKind(end string) string {
	k, _, _ := strings.Cut(end, ":")
	return k
}

// readState asks the agent API for the call's state; on any failure the
// view simply has none.
func (s *Server) readState(ctx context.Context, c *session, v *view) {
	u := strings.TrimRight(s.cfg.GatewayURL, "/") + "/v1/calls/" + c.call.Sid()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.AgentKey)
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var st callState
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st) != nil {
		return
	}
	v.State, v.Attempts = st.State, st.Attempts
}

// runAgent is the example agent on a verified call: the token by call
// SID, then the MCP server's whoami and next_appointment.
func (s *Server) runAgent(ctx context.Context, sid string) ([]toolResult, string) {
	actx, cancel := context.WithTimeout(ctx, agentTimeout)
	defer cancel()
	var out bytes.Buffer
	err := agent.Run(actx, agent.Config{GatewayURL: s.cfg.GatewayURL, AgentKey: s.cfg.AgentKey, MCPURL: s.cfg.MCPURL,
		HTTPClient: s.cfg.HTTPClient}, sid, &out)
	results := parseAgentOutput(out.Bytes())
	if err != nil {
		return results, err.Error()
	}
	return results, ""
}

// parseAgentOutput reads agent.Run's lines, "tool: {json}".
func parseAgentOutput(b []byte) []toolResult {
	var out []toolResult
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, res, ok := strings.Cut(sc.Text(), ": ")
		if !ok || !json.Valid([]byte(res)) {
			continue
		}
		out = append(out, toolResult{Tool: name, Result: json.RawMessage(res)})
	}
	return out
}

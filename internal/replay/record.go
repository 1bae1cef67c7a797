package replay

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ivr-gateway/ivr/internal/canon"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// Step is one thing the caller (or an attacker, or Twilio) does.
type Step struct {
	// Kind: "press", "say", "silence", "hangup" (status callback with Value
	// as CallStatus), "repeat" (Twilio sends the last request again),
	// "forged" (a request to the current <Gather> with the wrong signature),
	// "unsigned" (the same without X-Twilio-Signature).
	Kind       string
	Value      string
	Confidence float64
	Note       string
}

// Scenario is a call to record.
type Scenario struct {
	Name, Description string
	Env               Env
	Steps             []Step
	// AfterHangup adds the agent API and revocation checks to the last line.
	AfterHangup bool
}

// Record runs sc through the Twilio simulator against the harness and
// returns the fixture: every request Twilio made, and what came back.
func Record(ctx context.Context, sc Scenario, h *Harness, callSid string) (*Fixture, error) {
	fx := &Fixture{Header: Header{
		Fixture: sc.Name, Description: sc.Description, PublicURL: h.PublicURL,
		AuthToken: h.AuthToken, CallSid: callSid, Env: sc.Env,
	}}
	start := time.Now()
	var last *Request
	record := func(ex twiliosim.Exchange, note string) {
		req := Request{Method: ex.Method, URL: ex.URL, Signature: ex.Signature, Body: ex.Body}
		// t_ms is kept to 100 ms so fixtures do not churn on re-recording;
		// only the <Pause> before a poll needs it.
		l := Line{N: len(fx.Lines) + 1, TMS: time.Since(start).Milliseconds() / 100 * 100, Note: note, Request: req,
			Expect: Expect{Status: ex.Status, AS: h.newASRequests()}}
		if ex.Status == http.StatusOK {
			l.Expect.TwiML = canon.TwiML(ex.Response, h.PublicURL)
		}
		fx.Lines = append(fx.Lines, l)
		last = &fx.Lines[len(fx.Lines)-1].Request
	}
	pending := ""
	cfg := twiliosim.Config{
		BaseURL: h.URL, PublicURL: h.PublicURL, AuthToken: h.AuthToken, CallSid: callSid,
		AccountSid: "AC" + strings.Repeat("5", 32),
		From:       "+15555550123", To: "+15555550100", PauseScale: 1,
		Record: func(ex twiliosim.Exchange) { record(ex, pending); pending = "" },
	}
	call, turn, err := twiliosim.Dial(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replay: record %s: dial: %w", sc.Name, err)
	}
	for _, st := range sc.Steps {
		pending = st.Note
		switch st.Kind {
		case "press":
			turn, err = call.Press(ctx, st.Value)
		case "say":
			turn, err = call.Say(ctx, st.Value, st.Confidence)
		case "silence":
			turn, err = call.Silence(ctx)
		case "hangup":
			err = call.Hangup(ctx, st.Value)
		case "repeat":
			ex, rerr := h.sendRaw(ctx, *last)
			err = rerr
			record(ex, st.Note)
		case "forged", "unsigned":
			if turn == nil || turn.Gather == nil {
				return nil, fmt.Errorf("replay: record %s: %s needs a pending <Gather>", sc.Name, st.Kind)
			}
			form := url.Values{"CallSid": {callSid}, "Digits": {st.Value}, "AccountSid": {"AC" + strings.Repeat("0", 32)}}
			r := Request{Method: "POST", URL: turn.Gather.Action, Body: form.Encode()}
			if st.Kind == "forged" {
				r.Signature = twiliosim.Sign("not-the-auth-token", r.URL, form)
			}
			ex, rerr := h.sendRaw(ctx, r)
			err = rerr
			record(ex, st.Note)
		default:
			err = fmt.Errorf("unknown step kind %q", st.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("replay: record %s: %s: %w", sc.Name, st.Kind, err)
		}
	}
	if sc.AfterHangup && len(fx.Lines) > 0 {
		l := &fx.Lines[len(fx.Lines)-1]
		l.Expect.AgentTokenStatus = http.StatusNotFound
		l.Expect.Revoked = true
	}
	return fx, nil
}

// sendRaw sends a request outside the simulator (repeats and forgeries).
func (h *Harness) sendRaw(ctx context.Context, r Request) (twiliosim.Exchange, error) {
	fx := &Fixture{Header: Header{PublicURL: h.PublicURL}}
	status, body, err := send(ctx, http.DefaultClient, fx, r, Target{BaseURL: h.URL, PublicURL: h.PublicURL})
	return twiliosim.Exchange{Method: r.Method, URL: r.URL, Signature: r.Signature, Body: r.Body, Status: status, Response: body}, err
}

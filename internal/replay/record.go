package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ivr-gateway/ivr/internal/twiliosim"
	"github.com/ivr-gateway/ivr/telephony/conversationrelay"
)

// Step is one thing the caller (or an attacker, or Twilio) does.
type Step struct {
	// Kind: "press", "say", "silence", "hangup" (status callback with Value
	// as CallStatus), "repeat" (Twilio sends the last request again),
	// "forged" (a request to the current <Gather> with the wrong signature),
	// "unsigned" (the same without X-Twilio-Signature). In a WebSocket
	// session: "raw" (Value sent as one frame, as it is: a malformed or
	// unexpected message), "unsigned_upgrade" (a second session opened
	// without X-Twilio-Signature), "forged_setup" (a second, signed relay
	// session whose setup carries the call's parameters changed as Value
	// says: "call_sid", "caller", "no_bind", "step").
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
		if ex.Socket != nil {
			fx.Lines = append(fx.Lines, Line{N: len(fx.Lines) + 1, TMS: ex.Socket.Started.Sub(start).Milliseconds() / 100 * 100,
				Note: note, Socket: socketLine(ex.Socket), Expect: Expect{Status: ex.Status, AS: h.newASRequests()}})
			return
		}
		req := Request{Method: ex.Method, URL: ex.URL, Signature: ex.Signature, Body: ex.Body}
		// t_ms is kept to 100 ms so fixtures do not churn on re-recording;
		// only the <Pause> before a poll needs it.
		l := Line{N: len(fx.Lines) + 1, TMS: time.Since(start).Milliseconds() / 100 * 100, Note: note, Request: req,
			Expect: Expect{Status: ex.Status, AS: h.newASRequests()}}
		if ex.Status == http.StatusOK {
			l.Expect.TwiML = normaliseTwiML(ex.Response, h.PublicURL)
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
		// Steps inside a WebSocket session record nothing until it ends:
		// the session's line carries all their notes.
		switch {
		case st.Kind == "repeat" || st.Kind == "forged" || st.Kind == "unsigned" ||
			st.Kind == "unsigned_upgrade" || st.Kind == "forged_setup":
			// Recorded on their own line, with their own note.
		case pending == "":
			pending = st.Note
		case st.Note != "":
			pending += "; " + st.Note
		}
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
		case "raw":
			err = call.SendRaw(st.Value)
		case "unsigned_upgrade", "forged_setup":
			ex, perr := probe(ctx, cfg, call, st)
			err = perr
			if err == nil {
				record(ex, st.Note)
			}
		default:
			err = fmt.Errorf("unknown step kind %q", st.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("replay: record %s: %s: %w", sc.Name, st.Kind, err)
		}
	}
	if call.InSession() {
		// A session is recorded when it ends; one still open would be lost.
		return nil, fmt.Errorf("replay: record %s: the scenario ends inside a WebSocket session (end it, or hang up)", sc.Name)
	}
	if sc.AfterHangup && len(fx.Lines) > 0 {
		l := &fx.Lines[len(fx.Lines)-1]
		l.Expect.AgentTokenStatus = http.StatusNotFound
		l.Expect.Revoked = true
	}
	return fx, nil
}

// socketLine turns a session the simulator ran into a fixture line's
// frames. The gateway's prompt audio becomes "await media": how many
// frames arrive depends on timing, that some do does not.
func socketLine(log *twiliosim.SocketLog) *Socket {
	sk := &Socket{Kind: log.Kind, URL: log.URL, Signature: log.Signature}
	for _, f := range log.Frames {
		switch {
		case f.Dir == twiliosim.FromTwilio && json.Valid([]byte(f.Data)):
			sk.Frames = append(sk.Frames, Frame{Send: json.RawMessage(f.Data), Tamper: f.Tamper})
		case f.Dir == twiliosim.FromTwilio:
			sk.Frames = append(sk.Frames, Frame{SendText: f.Data})
		case isMedia([]byte(f.Data)):
			if n := len(sk.Frames); n == 0 || sk.Frames[n-1].Await != "media" {
				sk.Frames = append(sk.Frames, Frame{Await: "media"})
			}
		default:
			sk.Frames = append(sk.Frames, Frame{Recv: json.RawMessage(f.Data)})
		}
	}
	if log.ClosedBy != "" {
		sk.Close = &Close{By: log.ClosedBy, Code: log.CloseCode}
	}
	return sk
}

// probe opens the attacker's session of an "unsigned_upgrade" or
// "forged_setup" step at the call's relay URL.
func probe(ctx context.Context, cfg twiliosim.Config, call *twiliosim.Call, st Step) (twiliosim.Exchange, error) {
	kind, wsURL, params, ok := call.Session()
	if !ok || kind != twiliosim.SessionRelay {
		return twiliosim.Exchange{}, errors.New("needs a relay session")
	}
	var frames []twiliosim.Frame
	if st.Kind == "forged_setup" {
		sid, p, ok := tamper(st.Value, call.Sid(), params)
		if !ok {
			return twiliosim.Exchange{}, fmt.Errorf("unknown tamper %q", st.Value)
		}
		b, err := conversationrelay.Encode(conversationrelay.Setup{
			SessionID: "VX" + strings.Repeat("0", 32), AccountSid: cfg.AccountSid, CallSid: sid,
			From: cfg.From, To: cfg.To, Direction: "inbound", CallType: "PSTN", CallStatus: "IN_PROGRESS", CustomParameters: p,
		})
		if err != nil {
			return twiliosim.Exchange{}, err
		}
		frames = append(frames, twiliosim.Frame{Dir: twiliosim.FromTwilio, Data: string(b), Tamper: st.Value})
	}
	sig := ""
	if st.Kind == "forged_setup" {
		sig = twiliosim.Sign(cfg.AuthToken, wsURL, nil)
	}
	log, err := twiliosim.Probe(ctx, cfg, kind, wsURL, sig, frames)
	if err != nil {
		return twiliosim.Exchange{}, err
	}
	return twiliosim.Exchange{Method: http.MethodGet, URL: log.URL, Signature: log.Signature, Status: log.Status, Socket: &log}, nil
}

// sendRaw sends a request outside the simulator (repeats and forgeries).
func (h *Harness) sendRaw(ctx context.Context, r Request) (twiliosim.Exchange, error) {
	fx := &Fixture{Header: Header{PublicURL: h.PublicURL}}
	status, body, err := send(ctx, http.DefaultClient, fx, r, Target{BaseURL: h.URL, PublicURL: h.PublicURL})
	return twiliosim.Exchange{Method: r.Method, URL: r.URL, Signature: r.Signature, Body: r.Body, Status: status, Response: body}, err
}

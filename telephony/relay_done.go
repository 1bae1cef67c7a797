package telephony

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
)

// relayResult is what Twilio says about a ConversationRelay session when
// it requests the <Connect action> (Twilio "<ConversationRelay>", result
// of TwiML execution): SessionStatus "ended" (we sent end), "failed" (the
// WebSocket failed or was refused) or "completed" (the caller hung up),
// and the handoffData we sent with end. Only bounded values are kept.
type relayResult struct {
	status    string // ended, failed, completed, or "other"
	outcome   string // the handoff outcome we sent (relay*), or ""
	errorCode string // Twilio's ErrorCode on failure (digits), or ""
}

// maxHandoffData bounds the handoffData read back; ours is a few dozen bytes.
const maxHandoffData = 1024

func parseRelayResult(form form) relayResult {
	r := relayResult{status: form.get("SessionStatus")}
	switch r.status {
	case "ended", "failed", "completed":
	default:
		r.status = "other"
	}
	if d := form.get("HandoffData"); d != "" && len(d) <= maxHandoffData {
		var h handoff
		if json.Unmarshal([]byte(d), &h) == nil {
			switch h.Outcome {
			case relayVerified, relayFailed, relayHold, relayHandback, relayTrouble:
				r.outcome = h.Outcome
			}
		}
	}
	if c := form.get("ErrorCode"); c != "" && len(c) <= 8 && strings.Trim(c, "0123456789") == "" {
		r.errorCode = c
	}
	return r
}

// relayVoice answers the incoming call in relay mode: a ConversationRelay
// session bound to step 0, at once and without touching the store. The
// session starts the call (relay.go), so the greeting is spoken there.
func (g *Gateway) relayVoice(req *request) result {
	r := g.renderer(callflow.Turn{State: dialog.State{Lang: g.machine.Config().Languages[0]}}, req.call)
	r.connectRelay()
	return result{twiml: r.xml(), event: callflow.EventStart}
}

// relayDone is the <Connect action> after a ConversationRelay session.
// The session has already stepped the dialog, so this renders where the
// call is: the hand-off, the fallback, or the hold and its polls. A call
// still collecting answers gets a new session only when ours handed it
// back on purpose (shutdown, a stale binding); a session that failed or
// dropped while the caller was answering ends the call safely, with the
// apology and the failure path, rather than retrying a WebSocket that
// may never come back.
func (g *Gateway) relayDone(ctx context.Context, req *request) (result, error) {
	rr := req.relay
	event := "relay_" + rr.status
	if rr.status == "completed" {
		// The caller hung up; the status callback ends the call.
		return result{twiml: hangupTwiML, event: event}, nil
	}
	t, err := g.engine.Current(ctx, req.call.Sid)
	switch {
	case errors.Is(err, callflow.ErrUnknownCall):
		g.log.Warn("relay session ended for an unknown call", "call_sid", req.call.Sid, "status", rr.status)
		t = g.engine.Trouble("")
	case err != nil:
		return result{}, err
	}
	if _, asking := relayAsk(t.Actions); asking && (rr.status != "ended" || rr.outcome != relayHandback) {
		g.log.Warn("relay session ended while the call was collecting", "call_sid", req.call.Sid,
			"status", rr.status, "outcome", rr.outcome, "error_code", rr.errorCode, "step", t.Step)
		event += "_trouble"
		t = g.engine.Trouble(t.State.Lang)
	}
	return result{twiml: g.render(t, req.call), node: t.State.Node, step: t.Step, event: event}, nil
}

const hangupTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>`

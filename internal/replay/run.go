package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// Target is the gateway a fixture is replayed against.
type Target struct {
	BaseURL   string // where requests go
	PublicURL string // the target's IVR_PUBLIC_URL
	// AuthToken re-signs requests when the target is not the fixture's own
	// environment (another public URL, or a fresh call SID).
	AuthToken string
	// FreshCallSid gives the replay a new call SID, so a fixture can run
	// twice against one gateway's Redis.
	FreshCallSid string
	AgentKey     string
	HTTPClient   *http.Client
	// AS, when set, is the in-process harness whose AS double the
	// expectations on AS requests are checked against.
	Harness *Harness
}

// Mismatch is one difference between a fixture and what happened.
type Mismatch struct {
	Line  int
	Field string
	Want  string
	Got   string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("line %d: %s:\n  want %s\n  got  %s", m.Line, m.Field, m.Want, m.Got)
}

// Run replays fx against t, honouring the fixture's timing (a caller on hold
// comes back after the <Pause>), and returns every mismatch.
func Run(ctx context.Context, fx *Fixture, t Target) ([]Mismatch, error) {
	hc := t.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	var out []Mismatch
	start := time.Now()
	sid := fx.Header.CallSid
	if t.FreshCallSid != "" {
		sid = t.FreshCallSid
	}
	var params map[string]string // of the last <Stream> or <ConversationRelay>
	for _, l := range fx.Lines {
		if wait := time.Duration(l.TMS)*time.Millisecond - time.Since(start); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return out, ctx.Err()
			}
		}
		if l.Socket != nil {
			status, mm, err := runSocket(ctx, fx, l, t, sid, params)
			if err != nil {
				return out, fmt.Errorf("line %d: %w", l.N, err)
			}
			if status != l.Expect.Status {
				out = append(out, Mismatch{l.N, "upgrade status", fmt.Sprint(l.Expect.Status), fmt.Sprint(status)})
			}
			out = append(out, mm...)
		} else {
			status, body, err := send(ctx, hc, fx, l.Request, t)
			if err != nil {
				return out, fmt.Errorf("line %d: %w", l.N, err)
			}
			if status != l.Expect.Status {
				out = append(out, Mismatch{l.N, "status", fmt.Sprint(l.Expect.Status), fmt.Sprint(status)})
			}
			if l.Expect.TwiML != "" || status == http.StatusOK {
				if got := normaliseTwiML(body, t.PublicURL); got != l.Expect.TwiML {
					out = append(out, Mismatch{l.N, "twiml", l.Expect.TwiML, got})
				}
				if p := liveParams(body); p != nil {
					params = p
				}
			}
		}
		if t.Harness != nil {
			got := t.Harness.newASRequests()
			if w, g := asString(l.Expect.AS), asString(got); w != g {
				out = append(out, Mismatch{l.N, "authorization server requests", w, g})
			}
		}
		if l.Expect.AgentTokenStatus != 0 && t.AgentKey != "" {
			st, err := agentTokenStatus(ctx, t.BaseURL, t.AgentKey, sid)
			if err != nil {
				return out, fmt.Errorf("line %d: agent API: %w", l.N, err)
			}
			if st != l.Expect.AgentTokenStatus {
				out = append(out, Mismatch{l.N, "agent API token status", fmt.Sprint(l.Expect.AgentTokenStatus), fmt.Sprint(st)})
			}
		}
		if l.Expect.Revoked && t.Harness != nil && !t.Harness.revokedAny() {
			out = append(out, Mismatch{l.N, "token revoked at the AS", "true", "false"})
		}
	}
	return out, nil
}

func (h *Harness) revokedAny() bool {
	for _, r := range h.AS.Requests() {
		if r.Endpoint == "revoke" && h.AS.Revoked(r.Form.Get("token")) {
			return true
		}
	}
	return false
}

func asString(rs []ASRequest) string {
	if len(rs) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(rs)
	return string(b)
}

// send posts one fixture request, re-addressed and re-signed for t when
// needed. Requests that the fixture sends unsigned or mis-signed on purpose
// stay that way.
func send(ctx context.Context, hc *http.Client, fx *Fixture, r Request, t Target) (int, string, error) {
	rel := strings.TrimPrefix(r.URL, fx.Header.PublicURL)
	body, sig := r.Body, r.Signature
	resign := t.PublicURL != fx.Header.PublicURL || t.FreshCallSid != ""
	if resign && sig != "" && twiliosim.Sign(fx.Header.AuthToken, r.URL, mustParse(r.Body)) == sig {
		if t.FreshCallSid != "" {
			body = strings.ReplaceAll(body, "CallSid="+fx.Header.CallSid, "CallSid="+t.FreshCallSid)
		}
		sig = twiliosim.Sign(t.AuthToken, t.PublicURL+rel, mustParse(body))
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, t.BaseURL+rel, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

func mustParse(body string) url.Values {
	v, _ := url.ParseQuery(body)
	return v
}

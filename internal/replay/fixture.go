// Package replay records and replays call fixtures: the exact HTTP requests
// Twilio makes during one call, and the WebSocket sessions it opens (Media
// Streams, ConversationRelay) with every message each way, each with what
// the gateway must answer and what the authorization server must have been
// sent by then.
//
// A fixture is a JSON-lines file (format in docs/fixtures.md): a header line,
// then one line per request or session. Fixtures are recorded by driving the gateway
// with the Twilio simulator (internal/twiliosim) through a Scenario, and
// replayed verbatim, so a replay needs neither the simulator nor the
// scenario: `ivr replay` runs the same files against any gateway.
package replay

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Header is a fixture's first line.
type Header struct {
	Fixture     string `json:"fixture"`
	Description string `json:"description"`
	PublicURL   string `json:"public_url"`
	AuthToken   string `json:"auth_token"`
	CallSid     string `json:"call_sid"`
	// Env says what the in-process harness must set up: the AS double's
	// behaviour ("ok", "500", "slow") and Redis ("up", "down"). Fixtures
	// whose Env is not the default can only run in process.
	Env Env `json:"env"`
}

// Env is the environment a fixture was recorded in.
type Env struct {
	AS       string `json:"as,omitempty"`
	Redis    string `json:"redis,omitempty"`
	Fallback bool   `json:"fallback,omitempty"` // IVR_FALLBACK_NUMBER set
	// FixedOTP: the call needs the AS double's known one-time code.
	FixedOTP bool `json:"fixed_otp,omitempty"`
	// Transport is the gateway's IVR_TRANSPORT: "" (gather), "stream" or
	// "relay". A fixture only replays against a gateway of its transport.
	Transport string `json:"transport,omitempty"`
}

// Default reports whether the fixture needs nothing special, so it can run
// against any <Gather> gateway with the demo patients.
func (e Env) Default() bool { return e.DefaultFor("gather") }

// DefaultFor reports whether the fixture needs nothing special on a
// gateway running transport (IVR_TRANSPORT; "" is gather).
func (e Env) DefaultFor(transport string) bool {
	return (e.AS == "" || e.AS == "ok") && (e.Redis == "" || e.Redis == "up") && !e.FixedOTP && !e.Fallback &&
		cmp.Or(e.Transport, "gather") == cmp.Or(transport, "gather")
}

// Line is one request of the call, or one WebSocket session, and what
// must follow it.
type Line struct {
	N       int     `json:"n"`
	TMS     int64   `json:"t_ms"` // when Twilio sent it, from the call's start
	Note    string  `json:"note,omitempty"`
	Request Request `json:"request,omitzero"`
	// Socket is set, instead of Request, for a WebSocket session.
	Socket *Socket `json:"socket,omitempty"`
	Expect Expect  `json:"expect"`
}

// Socket is one WebSocket session as Twilio runs it: the signed upgrade,
// then every frame in order. Expect.Status is the upgrade's answer (101).
type Socket struct {
	Kind      string  `json:"kind"` // "stream" or "relay"
	URL       string  `json:"url"`  // the wss:// URL of the TwiML, which is signed
	Signature string  `json:"signature,omitempty"`
	Frames    []Frame `json:"frames,omitempty"`
	// Close is how the session ended: closed by "gateway" (with its
	// code, which must match) or by "twilio".
	Close *Close `json:"close,omitempty"`
}

// Frame is one step of a session: a message Twilio sends (send), one the
// gateway must send next (recv, compared as JSON), or, on a Media Stream,
// prompt audio (await "media": one or more media messages, not compared,
// since their number depends on timing).
type Frame struct {
	Send json.RawMessage `json:"send,omitempty"`
	// SendText is a frame Twilio sends that is not JSON (a malformed
	// message on purpose), as text.
	SendText string          `json:"send_text,omitempty"`
	Recv     json.RawMessage `json:"recv,omitempty"`
	Await    string          `json:"await,omitempty"`
	// Tamper marks a setup (start) message forged on purpose: the replay
	// applies the same change to the parameters of the TwiML it got
	// ("call_sid", "caller", "no_bind", "step").
	Tamper string `json:"tamper,omitempty"`
}

// Close is how a session ended.
type Close struct {
	By   string `json:"by"`
	Code int    `json:"code,omitempty"`
}

// Request is an HTTP request exactly as Twilio sent it.
type Request struct {
	Method    string `json:"method"`
	URL       string `json:"url"`
	Signature string `json:"signature,omitempty"` // X-Twilio-Signature; absent = not sent
	Body      string `json:"body"`
}

// Expect is what the gateway must answer, and what the AS must have
// received while it handled the request.
type Expect struct {
	Status int         `json:"status"`
	TwiML  string      `json:"twiml,omitempty"` // canonical form (canon.TwiML)
	AS     []ASRequest `json:"as,omitempty"`
	// After a line, checks of the agent API and the AS (the last line only).
	AgentTokenStatus int  `json:"agent_token_status,omitempty"`
	Revoked          bool `json:"revoked,omitempty"`
}

// ASRequest is one request the AS received, with random values (PKCE,
// codes, sessions, tokens) replaced by placeholders that name their shape.
type ASRequest struct {
	Endpoint string            `json:"endpoint"`
	Client   string            `json:"client"`
	Form     map[string]string `json:"form"`
}

// Fixture is a parsed fixture file.
type Fixture struct {
	Path   string
	Header Header
	Lines  []Line
}

// Load reads a fixture file.
func Load(path string) (*Fixture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fx, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fx.Path = path
	return fx, nil
}

// Parse reads a fixture.
func Parse(r io.Reader) (*Fixture, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	fx := &Fixture{}
	n := 0
	for sc.Scan() {
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		n++
		if n == 1 {
			if err := json.Unmarshal([]byte(b), &fx.Header); err != nil {
				return nil, fmt.Errorf("line 1 (header): %w", err)
			}
			if fx.Header.PublicURL == "" || fx.Header.CallSid == "" {
				return nil, errors.New("line 1 (header): public_url and call_sid are required")
			}
			continue
		}
		var l Line
		if err := json.Unmarshal([]byte(b), &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		switch {
		case l.Socket != nil:
			if !strings.HasPrefix(l.Socket.URL, wsBase(fx.Header.PublicURL)+"/") {
				return nil, fmt.Errorf("line %d: session needs a URL under %s", n, wsBase(fx.Header.PublicURL))
			}
		case l.Request.Method == "" || !strings.HasPrefix(l.Request.URL, fx.Header.PublicURL):
			return nil, fmt.Errorf("line %d: request needs a method and a URL under %s", n, fx.Header.PublicURL)
		}
		fx.Lines = append(fx.Lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("empty fixture")
	}
	return fx, nil
}

// Write writes a fixture.
func (fx *Fixture) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fx.Header); err != nil {
		return err
	}
	for _, l := range fx.Lines {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}

// placeholders replace the AS request values that differ on every run.
var placeholders = map[string]string{
	"code_challenge": "<pkce-s256>",
	"code_verifier":  "<pkce-verifier>",
	"code":           "<code>",
	"auth_session":   "<auth_session>",
	"token":          "<access_token>",
}

var shapes = map[string]*regexp.Regexp{
	"code_challenge": regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`),
	"code_verifier":  regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`),
}

// NormaliseAS turns a received form into its placeholder form. A random
// value of the wrong shape (a PKCE challenge that is not 43 base64url
// characters, say) keeps its real value, so the comparison fails and shows it.
func NormaliseAS(endpoint, client string, form url.Values) ASRequest {
	out := ASRequest{Endpoint: endpoint, Client: client, Form: map[string]string{}}
	for k, vs := range form {
		v := strings.Join(vs, ",")
		if p, ok := placeholders[k]; ok && v != "" {
			if re := shapes[k]; re == nil || re.MatchString(v) {
				v = p
			}
		}
		out.Form[k] = v
	}
	return out
}

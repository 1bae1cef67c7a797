// Package agent is an example downstream agent: it fetches the access token
// a caller earned by phone from the gateway's agent API (docs/agent-api.md) and
// uses it against an MCP server ("access MCP resources with the token").
//
// The token is fetched by call SID with a long poll, then sent as a bearer
// token on every MCP request (MCP authorization, "Token use"); it is never
// put in a URL, a log line or an error.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/internal/tracing"
	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
)

const (
	// maxWait is the long-poll wait asked of the gateway per request.
	maxWait = 20 * time.Second
	// minPause and maxPause bound the pause between polls, doubling while
	// the gateway keeps answering, so one that answers 404 at once instead
	// of holding the request is not hammered.
	minPause = 200 * time.Millisecond
	maxPause = 5 * time.Second
	// maxBodyBytes bounds agent-API response bodies.
	maxBodyBytes = 64 << 10
)

// Sentinel errors; test with errors.Is.
var (
	// ErrUnauthorized: the gateway refused the agent key (401).
	ErrUnauthorized = errors.New("agent: agent key refused")
	// ErrNotVerified: the call was still not verified when ctx ended.
	ErrNotVerified = errors.New("agent: call not verified")
	// ErrCallFailed: the gateway reports the call failed verification or
	// ended, so no token will come.
	ErrCallFailed = errors.New("agent: call failed or ended unverified")
	// ErrBadResponse: the gateway answered something docs/agent-api.md does
	// not allow.
	ErrBadResponse = errors.New("agent: unexpected agent API response")
)

// Config configures the agent.
type Config struct {
	// GatewayURL is the gateway's base URL, e.g. "http://127.0.0.1:8080".
	GatewayURL string
	// AgentKey is one of the gateway's IVR_AGENT_KEYS.
	AgentKey string
	// MCPURL is the MCP server's endpoint (the token's resource).
	MCPURL string
	// HTTPClient is used for both the agent API and MCP; its Transport is
	// reused. Default http.DefaultClient.
	HTTPClient *http.Client
	// Logger gets progress lines (call SID, status, never the token).
	// Default: discard.
	Logger *slog.Logger
	// TracerProvider traces what the agent does for a call in the call's
	// trace (internal/tracing/calltrace: the trace ID follows from the call
	// SID, so the agent joins the gateway's trace of the call without being
	// told anything), and sends W3C traceparent to the agent API and the
	// MCP server. nil: no tracing.
	TracerProvider trace.TracerProvider
}

func (cfg Config) withDefaults() Config {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TracerProvider != nil {
		if _, traced := cfg.HTTPClient.Transport.(tracedTransport); !traced {
			hc := *cfg.HTTPClient
			hc.Transport = tracedTransport{tracing.Transport(hc.Transport, cfg.TracerProvider, clientSpanName)}
			cfg.HTTPClient = &hc
		}
	}
	return cfg
}

// tracedTransport marks a transport withDefaults already wrapped (Run
// passes its config to FetchToken).
type tracedTransport struct{ http.RoundTripper }

// clientSpanName names the agent's HTTP spans from a fixed set: the agent
// API's routes, or the MCP endpoint.
func clientSpanName(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/token") && strings.Contains(p, "/v1/calls/"):
		return r.Method + " /v1/calls/{CallSid}/token"
	case strings.Contains(p, "/v1/calls/"):
		return r.Method + " /v1/calls/{CallSid}"
	}
	return r.Method + " mcp"
}

const tracerName = "github.com/ivr-gateway/ivr/agent"

// startSpan starts a span of the call in its trace; nil when tracing is
// off.
func startSpan(ctx context.Context, cfg Config, callSID, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if cfg.TracerProvider == nil {
		return ctx, nil
	}
	return calltrace.Start(ctx, cfg.TracerProvider.Tracer(tracerName), callSID, name,
		trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// endSpan ends sp (nil: off) with err's sentinel, never its text (which
// names URLs and statuses, but the rule is simpler kept whole).
func endSpan(sp trace.Span, err error) {
	if sp == nil {
		return
	}
	if err != nil {
		kind := "error"
		for _, s := range []error{ErrUnauthorized, ErrNotVerified, ErrCallFailed, ErrBadResponse} {
			if errors.Is(err, s) {
				kind = s.Error()
			}
		}
		sp.SetStatus(codes.Error, kind)
	}
	sp.End()
}

// Token is an access token as the agent API returns it.
type Token struct {
	AccessToken string
	TokenType   string
	Scope       string
	ExpiresAt   time.Time
}

// String describes the token without its secret.
func (t Token) String() string {
	return fmt.Sprintf("Token{type=%s scope=%q expires_at=%s access_token=[redacted]}",
		t.TokenType, t.Scope, t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString keeps %#v from printing the secret.
func (t Token) GoString() string { return t.String() }

// LogValue logs the token without its secret.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token_type", t.TokenType),
		slog.String("scope", t.Scope),
		slog.Time("expires_at", t.ExpiresAt),
		slog.String("access_token", "[redacted]"),
	)
}

// tokenResponse is the 200 body of GET /v1/calls/{CallSid}/token.
type tokenResponse struct {
	CallSID     string    `json:"call_sid"`
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
	Scope       string    `json:"scope"`
}

// FetchToken long-polls GET /v1/calls/{CallSid}/token until the call is
// verified or ctx ends. After each 404 it asks GET /v1/calls/{CallSid} and
// stops with ErrCallFailed when the state is failed or ended. It returns
// ErrUnauthorized on 401, ErrBadResponse on an answer outside docs/agent-api.md,
// and ErrNotVerified (together with the context's error) when ctx ends first.
// 5xx answers and network errors are retried until ctx ends, since the
// gateway may be restarting, and so is 429 (too many waiting requests).
func FetchToken(ctx context.Context, cfg Config, callSID string) (_ Token, err error) {
	cfg = cfg.withDefaults()
	if callSID == "" || callSID == "." || callSID == ".." || strings.ContainsAny(callSID, "/?#%") {
		return Token{}, errors.New("agent: fetch token: call SID is not a path segment")
	}
	if ivr.ValidCallSid(callSID) {
		var sp trace.Span
		ctx, sp = startSpan(ctx, cfg, callSID, "agent.fetch_token", trace.SpanKindInternal)
		defer func() { endSpan(sp, err) }()
	}
	base, err := url.Parse(cfg.GatewayURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return Token{}, errors.New("agent: fetch token: GatewayURL must be an absolute URL")
	}
	call := base.JoinPath("v1", "calls", callSID)
	endpoint := call.JoinPath("token")
	log := cfg.Logger.With(slog.String("call_sid", callSID))

	var last error // the last transient failure, reported if ctx ends
	pause := minPause
	for {
		start := time.Now()
		tok, retry, err := poll(ctx, cfg, *endpoint, callSID)
		switch {
		case err == nil:
			log.LogAttrs(ctx, slog.LevelInfo, "agent: token received", slog.Any("token", tok))
			return tok, nil
		case !retry:
			return Token{}, fmt.Errorf("agent: fetch token for call %s: %w", callSID, err)
		case errors.Is(err, ErrNotVerified) && ctx.Err() == nil:
			if state := callState(ctx, cfg, call.String()); state == "failed" || state == "ended" {
				return Token{}, fmt.Errorf("agent: fetch token for call %s: %w (state %s)", callSID, ErrCallFailed, state)
			}
		}
		if last == nil || ctx.Err() == nil {
			// A request cut short by ctx tells nothing new.
			last = err
		}
		log.LogAttrs(ctx, slog.LevelDebug, "agent: token not ready", slog.String("reason", err.Error()))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(last, ErrNotVerified) {
				return Token{}, fmt.Errorf("agent: fetch token for call %s: %w: %w", callSID, ErrNotVerified, context.Cause(ctx))
			}
			return Token{}, fmt.Errorf("agent: fetch token for call %s: %w: %w (last error: %w)", callSID, ErrNotVerified, context.Cause(ctx), last)
		case <-t.C:
		}
		if time.Since(start) >= time.Second {
			// The gateway held the request: it honours wait, and the
			// next poll may as well start at once.
			pause = minPause
		} else {
			pause = min(2*pause, maxPause)
		}
	}
}

// poll makes one long-poll request. retry reports whether err is worth
// another request.
func poll(ctx context.Context, cfg Config, endpoint url.URL, callSID string) (_ Token, retry bool, _ error) {
	wait := maxWait
	if dl, ok := ctx.Deadline(); ok {
		// Ask the gateway to answer before our deadline, not after it.
		wait = min(wait, time.Until(dl).Truncate(time.Second))
	}
	if wait > 0 {
		endpoint.RawQuery = url.Values{"wait": {wait.String()}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint.String(), nil)
	if err != nil {
		return Token{}, false, err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.AgentKey)
	req.Header.Set("Accept", "application/json")
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Token{}, true, ErrNotVerified
		}
		return Token{}, true, fmt.Errorf("agent API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return Token{}, true, fmt.Errorf("agent API: read body: %w", err)
	}

	switch {
	case resp.StatusCode == http.StatusOK:
		tok, err := decodeToken(body, callSID)
		return tok, false, err
	case resp.StatusCode == http.StatusNotFound:
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error != "not_found" {
			return Token{}, false, fmt.Errorf("%w: 404 without error not_found", ErrBadResponse)
		}
		return Token{}, true, ErrNotVerified
	case resp.StatusCode == http.StatusUnauthorized:
		return Token{}, false, ErrUnauthorized
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests:
		// 429: the gateway's cap on waiting requests; a slot frees soon.
		return Token{}, true, fmt.Errorf("agent API: status %d", resp.StatusCode)
	default:
		return Token{}, false, fmt.Errorf("%w: status %d", ErrBadResponse, resp.StatusCode)
	}
}

// callState returns the state of GET /v1/calls/{CallSid}, or "" when it
// cannot be learnt (unknown call, gateway trouble): the caller then simply
// keeps polling.
func callState(ctx context.Context, cfg Config, endpoint string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return ""
	}
	req.Header.Set("Authorization", "Bearer "+cfg.AgentKey)
	req.Header.Set("Accept", "application/json")
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body struct {
		State string `json:"state"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, maxBodyBytes)).Decode(&body) != nil {
		return ""
	}
	return body.State
}

// decodeToken checks a 200 body against docs/agent-api.md.
func decodeToken(body []byte, callSID string) (Token, error) {
	var r tokenResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return Token{}, fmt.Errorf("%w: token JSON: %w", ErrBadResponse, jsonKind(err))
	}
	switch {
	case r.CallSID != callSID:
		return Token{}, fmt.Errorf("%w: token for another call", ErrBadResponse)
	case r.AccessToken == "":
		return Token{}, fmt.Errorf("%w: no access_token", ErrBadResponse)
	case !strings.EqualFold(r.TokenType, "Bearer"):
		// Only bearer tokens can be sent the way Run sends them; a
		// DPoP-bound token would need a proof per request.
		return Token{}, fmt.Errorf("%w: token_type is not Bearer", ErrBadResponse)
	}
	return Token{AccessToken: r.AccessToken, TokenType: r.TokenType, Scope: r.Scope, ExpiresAt: r.ExpiresAt}, nil
}

// jsonKind drops the offending input from a JSON error, which could quote
// a piece of the token.
func jsonKind(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("syntax error at offset %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q has the wrong type", typ.Field)
	default:
		return errors.New("invalid value")
	}
}

// bearerTransport adds the access token to every MCP request.
type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	// A RoundTripper must not modify the caller's request.
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// Run fetches the call's token, connects to the MCP server with it, calls
// whoami and next_appointment, and prints each tool's result to out as one
// line: the tool name and its structured result in JSON.
func Run(ctx context.Context, cfg Config, callSID string, out io.Writer) (err error) {
	cfg = cfg.withDefaults()
	if ivr.ValidCallSid(callSID) {
		var sp trace.Span
		ctx, sp = startSpan(ctx, cfg, callSID, "agent.run", trace.SpanKindInternal)
		defer func() { endSpan(sp, err) }()
	}
	tok, err := FetchToken(ctx, cfg, callSID)
	if err != nil {
		return err
	}
	base := cfg.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	httpClient := *cfg.HTTPClient
	httpClient.Transport = bearerTransport{token: tok.AccessToken, base: base}

	client := mcp.NewClient(&mcp.Implementation{Name: "ivr-agent", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   cfg.MCPURL,
		HTTPClient: &httpClient,
		// Only request/response is needed; no server-initiated stream.
		DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		return fmt.Errorf("agent: connect to MCP server: %w", err)
	}
	defer cs.Close() // ends the server-side session (DELETE)

	for _, name := range []string{"whoami", "next_appointment"} {
		// A client span per MCP call (semantic conventions: "{method}
		// {tool}"); its HTTP request is the child that carries traceparent.
		tctx, sp := startSpan(ctx, cfg, callSID, "tools/call "+name, trace.SpanKindClient,
			attribute.String("mcp.method.name", "tools/call"), attribute.String("gen_ai.tool.name", name))
		res, err := cs.CallTool(tctx, &mcp.CallToolParams{Name: name})
		switch {
		case err != nil:
			endSpan(sp, err)
			return fmt.Errorf("agent: call %s: %w", name, err)
		case res.IsError:
			endSpan(sp, errors.New("tool error"))
			return fmt.Errorf("agent: call %s: the tool reported an error", name)
		}
		endSpan(sp, nil)
		line, err := json.Marshal(res.StructuredContent)
		if err != nil {
			return fmt.Errorf("agent: call %s: encode result: %w", name, err)
		}
		if _, err := fmt.Fprintf(out, "%s: %s\n", name, line); err != nil {
			return fmt.Errorf("agent: write result: %w", err)
		}
	}
	return nil
}

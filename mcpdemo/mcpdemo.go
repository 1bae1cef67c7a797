// Package mcpdemo is a small MCP server that plays the protected resource a
// phone-obtained access token is used against.
//
// It serves the Streamable HTTP transport at the path of its resource URL
// (normally /mcp), publishes RFC 9728 protected-resource metadata, and admits
// only ES256 JWT access tokens issued by the configured authorization server
// for this resource (MCP authorization: audience validation, RFC 8707 §2).
// Requests without a valid token get 401 with a WWW-Authenticate challenge
// that names the metadata document (RFC 9728 §5.1, RFC 6750 §3).
//
// Its two tools, whoami and next_appointment, need the patient.read scope
// (a call without it gets 403 with WWW-Authenticate: Bearer
// error="insufficient_scope") and answer from the token's subject (the
// patient id) with fictional, deterministic data.
package mcpdemo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/internal/tracing"
)

// errTokenCheck answers a request whose token could not be checked.
var errTokenCheck = errors.New("mcpdemo: token check unavailable")

// wellKnownPRM is the RFC 9728 §3 well-known path prefix.
const wellKnownPRM = "/.well-known/oauth-protected-resource"

// sessionTimeout closes MCP sessions an agent abandoned without DELETE.
const sessionTimeout = 10 * time.Minute

// Config configures a Server. Resource, Issuer, JWKSURL and Revoked are
// required; the rest have defaults.
type Config struct {
	// Resource is the server's canonical URL (RFC 8707 §2), e.g.
	// "http://127.0.0.1:9100/mcp". Tokens must carry it in "aud"; its path is
	// where the MCP endpoint is served.
	Resource string
	// Issuer is the authorization server's issuer identifier; tokens must
	// carry it in "iss", and the metadata lists it in authorization_servers.
	Issuer string
	// JWKSURL is the authorization server's jwks_uri.
	JWKSURL string
	// Revoked reports whether the token with this jti has been revoked. An
	// error rejects the request (fail closed).
	Revoked func(ctx context.Context, jti string) (bool, error)
	// Now is the clock for exp/nbf/iat checks. Default time.Now.
	Now func() time.Time
	// Logger receives one line per rejected token, with the reason kind.
	// Default: discard.
	Logger *slog.Logger
	// HTTPClient fetches the JWKS. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// TracerProvider gives every request a server span continuing the
	// agent's W3C trace, every MCP request a span named by its method and
	// tool, and the JWKS fetch a client span (internal/tracing). nil: no
	// tracing.
	TracerProvider trace.TracerProvider
}

// Server is the demo MCP resource server. Create it with New.
type Server struct {
	resource    *url.URL
	metadataURL string
	metadata    *oauthex.ProtectedResourceMetadata
	verifier    *verifier
	logger      *slog.Logger
	now         func() time.Time
	mcp         *mcp.Server
	handler     http.Handler
	tp          trace.TracerProvider
	tracer      trace.Tracer // nil: tracing is off
}

// New checks cfg and returns a Server. It does not contact the
// authorization server: the JWKS is fetched on the first token.
func New(cfg Config) (*Server, error) {
	res, err := parseResource(cfg.Resource)
	if err != nil {
		return nil, err
	}
	if cfg.Issuer == "" {
		return nil, errors.New("mcpdemo: config: Issuer is required")
	}
	if _, err := url.Parse(cfg.JWKSURL); err != nil || cfg.JWKSURL == "" {
		return nil, errors.New("mcpdemo: config: JWKSURL must be a URL")
	}
	if cfg.Revoked == nil {
		return nil, errors.New("mcpdemo: config: Revoked is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.TracerProvider != nil {
		hc := *cfg.HTTPClient
		hc.Transport = tracing.Transport(hc.Transport, cfg.TracerProvider, func(*http.Request) string { return "GET jwks" })
		cfg.HTTPClient = &hc
	}

	s := &Server{
		resource:    res,
		metadataURL: res.Scheme + "://" + res.Host + wellKnownPRM + res.Path,
		metadata: &oauthex.ProtectedResourceMetadata{
			Resource:               res.String(),
			AuthorizationServers:   []string{cfg.Issuer},
			BearerMethodsSupported: []string{"header"},
			ResourceName:           "IVR demo MCP server",
		},
		verifier: &verifier{
			resource: res.String(),
			issuer:   cfg.Issuer,
			revoked:  cfg.Revoked,
			now:      cfg.Now,
			keys:     &jwksCache{url: cfg.JWKSURL, client: cfg.HTTPClient, now: cfg.Now},
		},
		logger: cfg.Logger,
		now:    cfg.Now,
		tp:     cfg.TracerProvider,
	}
	if s.tp != nil {
		s.tracer = s.tp.Tracer("github.com/ivr-gateway/ivr/mcpdemo")
	}
	s.handler = s.routes()
	return s, nil
}

// parseResource accepts an absolute http(s) URL with a path and without
// query or fragment (RFC 8707 §2), the form MCP clients send as resource.
func parseResource(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("mcpdemo: config: Resource must be an absolute http(s) URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("mcpdemo: config: Resource must have no query, fragment or user info")
	}
	if u.Path == "" || u.Path == "/" || strings.HasPrefix(u.Path, "/.well-known/") {
		return nil, errors.New("mcpdemo: config: Resource needs a path for the MCP endpoint, such as /mcp")
	}
	return u, nil
}

// Handler returns the HTTP handler serving the MCP endpoint and the
// protected-resource metadata, both path-inserted and at the root.
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends every open MCP session. Call it after the HTTP server has
// shut down: sessions an agent left open otherwise live until their idle
// timeout.
func (s *Server) Close() error {
	var errs []error
	for ss := range s.mcp.Sessions() {
		if err := ss.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mcpdemo: close sessions: %w", err)
	}
	return nil
}

// MetadataURL returns the URL of the RFC 9728 metadata document that 401
// challenges point to.
func (s *Server) MetadataURL() string { return s.metadataURL }

func (s *Server) routes() http.Handler {
	mcpServer := mcp.NewServer(&mcp.Implementation{Name: "ivr-mcpdemo", Version: "1.0.0"}, nil)
	s.addTools(mcpServer)
	s.mcp = mcpServer

	streamable := mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return mcpServer },
		&mcp.StreamableHTTPOptions{Logger: s.logger, SessionTimeout: sessionTimeout},
	)
	bearer := auth.RequireBearerToken(s.verifyToken, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: s.metadataURL,
		// The verifier has checked exp against the injected clock; the
		// SDK's second check would read the wall clock, so the verifier
		// leaves TokenInfo.Expiration empty and this skips that check.
		AllowMissingExpiration: true,
	})

	prm := auth.ProtectedResourceMetadataHandler(s.metadata)
	mux := http.NewServeMux()
	mux.Handle(s.resource.Path, s.challenge(bearer(s.requireToolScopes(streamable))))
	mux.Handle(wellKnownPRM+s.resource.Path, prm)
	mux.Handle(wellKnownPRM, prm)
	return tracing.Server(mux, s.tp)
}

// verifyToken adapts verifier to auth.TokenVerifier and logs rejections by
// kind only: neither the token nor its subject reaches the log.
func (s *Server) verifyToken(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	info, err := s.verifier.verify(ctx, token)
	switch {
	case errors.Is(err, auth.ErrInvalidToken):
		s.logger.LogAttrs(ctx, slog.LevelInfo, "mcpdemo: token rejected", slog.String("reason", reasonOf(err)))
		return nil, err
	case err != nil:
		// JWKS or revocation store unreachable: fail closed with a 500
		// whose body names no internals.
		s.logger.LogAttrs(ctx, slog.LevelError, "mcpdemo: token check failed", slog.String("error", err.Error()))
		return nil, errTokenCheck
	}
	return info, nil
}

// challenge completes the SDK's 401 answer: RFC 6750 §3.1 wants
// error="invalid_token" when a token was presented, and the SDK writes only
// resource_metadata.
func (s *Server) challenge(next http.Handler) http.Handler {
	plain := fmt.Sprintf("Bearer resource_metadata=%q", s.metadataURL)
	invalid := fmt.Sprintf("Bearer error=\"invalid_token\", resource_metadata=%q", s.metadataURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		value := plain
		if hasBearer(r.Header.Get("Authorization")) {
			value = invalid
		}
		next.ServeHTTP(&challengeWriter{ResponseWriter: w, value: value}, r)
	})
}

// hasBearer reports whether the Authorization header uses the Bearer scheme
// (case-insensitive, RFC 7235 §2.1) with a non-empty credential.
func hasBearer(h string) bool {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(cred) != ""
}

// challengeWriter rewrites WWW-Authenticate on a 401.
type challengeWriter struct {
	http.ResponseWriter
	value       string
	wroteHeader bool
}

func (w *challengeWriter) WriteHeader(code int) {
	if !w.wroteHeader && code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", w.value)
	}
	w.wroteHeader = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *challengeWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (used by the SDK for SSE flushing)
// reach the underlying writer.
func (w *challengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

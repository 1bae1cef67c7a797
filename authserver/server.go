package authserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/internal/tracing"
)

// Config configures a Server. Patients, Clients and Redis are required.
type Config struct {
	// Issuer is the issuer identifier, e.g. "http://127.0.0.1:9000" or
	// "https://as.example.com/tenant1"; endpoint URLs are built from it.
	Issuer string
	// Patients are hashed at New; the caller should drop its copy.
	Patients []Patient
	// Clients are the registered clients (client_secret_basic), with the
	// scopes and resources each may ask for.
	Clients []Client
	// Redis holds sessions, codes, counters and revocations; several
	// instances sharing it share lockouts.
	Redis redis.UniversalClient
	// Prefix is the Redis key prefix, default "ivras:".
	Prefix string
	// SigningKey is a P-256 key for ES256 access tokens; nil: generated at
	// start (tokens then die with the process).
	SigningKey *ecdsa.PrivateKey
	// HashKey keys the DOB, SSN-4, identity, OTP, code and session hashes;
	// nil: 32 random bytes (lockouts then reset with the process).
	HashKey []byte
	// OTPSender sends step-up codes; required when a patient can need one.
	OTPSender OTPSender
	// AccessTokenTTL is the access-token lifetime, default 15 min.
	AccessTokenTTL time.Duration
	// ClientRateLimit caps challenge requests per client per minute,
	// default 120 (`ivr authserver -client-rate`).
	ClientRateLimit int
	// Now is the clock for every expiry decision; default time.Now.
	Now func() time.Time
	// Logger gets one line per request (endpoint, client_id, outcome) and
	// never personal data; default: discard.
	Logger *slog.Logger
	// Rand is the randomness for codes, sessions, OTPs and token IDs;
	// default crypto/rand.
	Rand io.Reader
	// TracerProvider gives every request a server span continuing the
	// caller's W3C trace, and every Redis command a span (New adds the hook
	// to Config.Redis; internal/tracing). nil: no tracing.
	TracerProvider trace.TracerProvider
}

// Fixed policy (the brief's numbers; see the package doc).
const (
	codeTTL          = 60 * time.Second
	otpTTL           = 5 * time.Minute
	otpTries         = 3
	sessionTTL       = 15 * time.Minute
	sessionMaxUses   = 5
	identityFailures = 3
	failureWindow    = 15 * time.Minute
	lockDuration     = 15 * time.Minute
	maxBody          = 16 << 10
)

// Server is the authorization server. Create it with New.
type Server struct {
	issuer    string
	paths     paths
	records   []record
	clients   clientSet
	rdb       redis.UniversalClient
	prefix    string
	signer    jose.Signer
	pub       jose.JSONWebKey
	hashKey   []byte
	otp       OTPSender
	ttl       time.Duration
	rateLimit int
	now       func() time.Time
	log       *slog.Logger
	rand      io.Reader
	metadata  []byte
	jwks      []byte
	wellKnown string
	tracer    trace.TracerProvider
	issued    *issuedTokens // issued.go
}

type paths struct{ challenge, token, revoke, jwks string }

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" ||
		iss.RawQuery != "" || iss.Fragment != "" {
		return nil, errors.New("authserver: Issuer must be an absolute http(s) URL without query or fragment")
	}
	if len(cfg.Clients) == 0 {
		return nil, errors.New("authserver: no clients")
	}
	if cfg.Redis == nil {
		return nil, errors.New("authserver: no Redis client")
	}
	clients, err := newClientSet(cfg.Clients)
	if err != nil {
		return nil, err
	}
	s := &Server{
		issuer:    strings.TrimRight(cfg.Issuer, "/"),
		clients:   clients,
		rdb:       cfg.Redis,
		prefix:    cfg.Prefix,
		hashKey:   cfg.HashKey,
		otp:       cfg.OTPSender,
		ttl:       cfg.AccessTokenTTL,
		rateLimit: cfg.ClientRateLimit,
		now:       cfg.Now,
		log:       cfg.Logger,
		rand:      cfg.Rand,
		tracer:    cfg.TracerProvider,
		issued:    newIssuedTokens(issuedCap),
	}
	if s.prefix == "" {
		s.prefix = "ivras:"
	}
	if s.ttl <= 0 {
		s.ttl = 15 * time.Minute
	}
	if s.rateLimit <= 0 {
		s.rateLimit = 120
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if len(s.hashKey) == 0 {
		s.log.Warn("authserver: no HashKey configured; a random one is used, so lockouts and pending codes end with the process")
		s.hashKey = make([]byte, 32)
		if _, err := io.ReadFull(s.rand, s.hashKey); err != nil {
			return nil, fmt.Errorf("authserver: hash key: %w", err)
		}
	}
	seen := make(map[string]bool, len(cfg.Patients))
	for i, p := range cfg.Patients {
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %s", ErrInvalidPatients, i, err)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("%w: entry %d: duplicate id", ErrInvalidPatients, i)
		}
		seen[p.ID] = true
		s.records = append(s.records, newRecord(p, s.hashKey))
	}
	// Any match can turn ambiguous, so an OTP sender is needed as soon as
	// there are patients.
	if len(s.records) > 0 && s.otp == nil {
		return nil, errors.New("authserver: no OTPSender")
	}

	key := cfg.SigningKey
	if key == nil {
		s.log.Warn("authserver: no SigningKey configured; tokens signed with a key generated now stop verifying when the process ends")
		if key, err = ecdsa.GenerateKey(elliptic.P256(), s.rand); err != nil {
			return nil, fmt.Errorf("authserver: signing key: %w", err)
		}
	}
	if key.Curve != elliptic.P256() {
		return nil, errors.New("authserver: SigningKey must be P-256 (ES256)")
	}
	jwk := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.ES256), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("authserver: key thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	s.pub = jwk
	s.signer, err = jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: jwk.KeyID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, fmt.Errorf("authserver: signer: %w", err)
	}
	if s.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}}); err != nil {
		return nil, fmt.Errorf("authserver: jwks: %w", err)
	}

	if strings.ContainsAny(iss.Path, "{}") {
		return nil, errors.New("authserver: Issuer path must not contain braces")
	}
	// Endpoints live under the issuer's path; RFC 8414 §3 puts the
	// well-known segment between host and path.
	base := strings.TrimRight(iss.Path, "/")
	s.paths = paths{
		challenge: base + "/oauth/challenge",
		token:     base + "/oauth/token",
		revoke:    base + "/oauth/revoke",
		jwks:      base + "/oauth/jwks.json",
	}
	s.wellKnown = "/.well-known/oauth-authorization-server" + base
	md := map[string]any{
		"issuer":                                     s.issuer,
		"authorization_challenge_endpoint":           s.issuer + "/oauth/challenge",
		"token_endpoint":                             s.issuer + "/oauth/token",
		"revocation_endpoint":                        s.issuer + "/oauth/revoke",
		"jwks_uri":                                   s.issuer + "/oauth/jwks.json",
		"code_challenge_methods_supported":           []string{"S256"},
		"token_endpoint_auth_methods_supported":      []string{"client_secret_basic"},
		"revocation_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"grant_types_supported":                      []string{"authorization_code"},
		"response_types_supported":                   []string{"code"},
	}
	if s.metadata, err = json.Marshal(md); err != nil {
		return nil, fmt.Errorf("authserver: metadata: %w", err)
	}
	if err := tracing.Redis(cfg.Redis, cfg.TracerProvider); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	return s, nil
}

// Handler serves the endpoints at their paths under the issuer:
// the RFC 8414 metadata, /oauth/challenge, /oauth/token, /oauth/revoke and
// /oauth/jwks.json. Mount it at the root of the issuer's host.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(s.wellKnown, s.get(s.metadata, "public, max-age=300"))
	mux.HandleFunc(s.paths.jwks, s.get(s.jwks, "public, max-age=300"))
	mux.HandleFunc(s.paths.challenge, s.post(s.handleChallenge))
	mux.HandleFunc(s.paths.token, s.post(s.handleToken))
	mux.HandleFunc(s.paths.revoke, s.post(s.handleRevoke))
	return tracing.Server(mux, s.tracer)
}

func (s *Server) get(body []byte, cache string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, &oauthError{status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "method not allowed"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", cache)
		w.Write(body)
	}
}

// post checks the method and form body common to the three POST endpoints
// and parses the form; a handler then reads r.PostForm.
func (s *Server) post(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, &oauthError{status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "method not allowed"})
			return
		}
		if oe := readForm(w, r); oe != nil {
			writeError(w, oe)
			return
		}
		h(w, r)
	}
}

// readForm parses an application/x-www-form-urlencoded body into
// r.PostForm; query parameters are not read (RFC 6749 §3.2).
func readForm(w http.ResponseWriter, r *http.Request) *oauthError {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
		return errRequest("body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return errRequest("body too large or unreadable")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return errRequest("malformed form body")
	}
	r.PostForm = form
	return nil
}

// oauthError is an RFC 6749 §5.2 / FiPA §5.2.2 error answer.
type oauthError struct {
	status            int
	Code              string `json:"error"`
	Description       string `json:"error_description,omitempty"`
	AuthSession       string `json:"auth_session,omitempty"`
	OTPRequired       bool   `json:"otp_required,omitempty"`
	AttemptsRemaining *int   `json:"attempts_remaining,omitempty"`
}

func errRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

func errInvalidClient() *oauthError {
	return &oauthError{status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed"}
}

func errUnavailable() *oauthError {
	return &oauthError{status: http.StatusServiceUnavailable, Code: "temporarily_unavailable"}
}

func errSlowDown() *oauthError {
	return &oauthError{status: http.StatusTooManyRequests, Code: "slow_down"}
}

func errInvalidSession() *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_session"}
}

func writeError(w http.ResponseWriter, e *oauthError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="ivr-authserver", charset="UTF-8"`)
	}
	if e.status == http.StatusServiceUnavailable || e.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "60")
	}
	writeJSON(w, e.status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// randToken returns n random bytes, base64url.
func (s *Server) randToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("authserver: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Server) key(kind string, id []byte) string {
	return s.prefix + kind + ":" + base64.RawURLEncoding.EncodeToString(id)
}

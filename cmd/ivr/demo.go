package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/authserver"
	"github.com/ivr-gateway/ivr/internal/app"
	"github.com/ivr-gateway/ivr/internal/phone"
	"github.com/ivr-gateway/ivr/internal/redisconn"
	"github.com/ivr-gateway/ivr/mcpdemo"
)

// demoPatients is the default patient file of `ivr demo` and `ivr authserver`.
const demoPatients = "authserver/testdata/patients.json"

// demoCallerLimit is the demo's per-caller limit unless IVR_CALLER_LIMIT
// says otherwise: above the gateway's 6, since every call from the
// terminal phone comes from the same number.
const demoCallerLimit = 20

// runDemo starts everything on loopback in one process: Redis (embedded
// unless REDIS_URL is set), the reference authorization server with the
// demo patients, the demo MCP server and the gateway, then prints how to call.
func runDemo(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	addr := fs.String("addr", env.or("IVR_ADDR", "127.0.0.1:8080"), "gateway listen address (IVR_ADDR)")
	patients := fs.String("patients", env.or("IVR_AS_PATIENTS", demoPatients), "patient file (format: docs/as-profile.md) (IVR_AS_PATIENTS)")
	token := fs.String("twilio-auth-token", env("TWILIO_AUTH_TOKEN"), "Twilio auth token the gateway checks signatures with; empty: a random one (TWILIO_AUTH_TOKEN)")
	logFormat := fs.String("log-format", env.or("IVR_LOG_FORMAT", "text"), "log format: text (compact lines for this terminal) or json (IVR_LOG_FORMAT)")
	callerLimit := demoCallerLimit
	if v := env("IVR_CALLER_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("IVR_CALLER_LIMIT=%q: want a positive number", v)
		}
		callerLimit = n
	}
	fs.IntVar(&callerLimit, "caller-limit", callerLimit, "verification attempts per caller number per hour (IVR_CALLER_LIMIT)")
	transport := fs.String("transport", env.or("IVR_TRANSPORT", "gather"), "gather, stream or relay (IVR_TRANSPORT); ivr call speaks every one")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if callerLimit < 1 {
		return errors.New("demo: -caller-limit must be at least 1")
	}
	var log *slog.Logger
	switch *logFormat {
	case "text":
		log = slog.New(newCompactHandler(stderr, nil))
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, nil))
	default:
		return fmt.Errorf("demo: -log-format %q: want text or json", *logFormat)
	}
	pats, err := loadPatients(*patients)
	if err != nil {
		return err
	}
	tr, flushTraces, err := startTracing(ctx, env, log)
	if err != nil {
		return err
	}
	defer flushTraces() // runs last: after the servers and Redis have stopped

	// One Redis for all three parts, each under its own prefix.
	var rdb redis.UniversalClient
	if u := env("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb = redis.NewClient(opt)
	} else {
		mr, c, err := redisconn.Embedded()
		if err != nil {
			return err
		}
		defer mr.Close()
		rdb = c
	}
	defer rdb.Close()
	gwRDB := rdb
	if c, ok := rdb.(*redis.Client); ok && tr.Enabled() {
		// Traced, the gateway has a client of its own: each part's Redis
		// hook then makes that part's spans (one hook per client).
		o := *c.Options()
		gwRDB = redis.NewClient(&o)
		defer gwRDB.Close()
	}

	gwLn, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("gateway address: %w", err)
	}
	asLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gatewayURL := "http://" + gwLn.Addr().String()
	issuer := "http://" + asLn.Addr().String()
	resource := "http://" + mcpLn.Addr().String() + "/mcp"

	clientSecret := randomString(24)
	// The gateway's client may ask for what the demo's gateway asks for:
	// patient.read (the MCP tools need it) for the demo MCP server.
	as, err := authserver.New(authserver.Config{
		Issuer: issuer, Patients: pats,
		Clients: []authserver.Client{{ID: "ivr-gateway", Secret: clientSecret, Scopes: []string{mcpdemo.ScopePatientRead}, Resources: []string{resource}}},
		Redis:   rdb, Prefix: "demo:as:", OTPSender: &authserver.ConsoleSender{W: stdout},
		Logger: log.With("component", "authserver"), TracerProvider: tr.Provider("ivr-authserver"),
	})
	if err != nil {
		return err
	}
	mcp, err := mcpdemo.New(mcpdemo.Config{
		Resource: resource, Issuer: issuer, JWKSURL: issuer + "/oauth/jwks.json",
		Revoked: as.Revoked, Logger: log.With("component", "mcp"), TracerProvider: tr.Provider("ivr-mcp"),
	})
	if err != nil {
		return err
	}
	defer mcp.Close()
	servers := []*http.Server{newHTTPServer(as.Handler()), newHTTPServer(mcp.Handler())}
	go servers[0].Serve(asLn)
	go servers[1].Serve(mcpLn)
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()

	if *token == "" {
		*token = randomString(16)
	}
	agentKey := "demo-agent-" + randomString(8)
	sessionKey := make([]byte, 32)
	rand.Read(sessionKey)
	a, err := app.New(ctx, app.Config{
		PublicURL: gatewayURL, AuthToken: *token, Redis: gwRDB, RedisPrefix: "demo:ivr:", TracerProvider: tr.Provider("ivr-gateway"),
		AuthIssuer: issuer, ClientID: "ivr-gateway", ClientSecret: clientSecret, Scope: mcpdemo.ScopePatientRead, Resource: resource,
		AgentKeys: []string{agentKey}, SessionKey: sessionKey, CallerLimit: callerLimit, MaxAttempts: 3, CheckClient: true,
		OrgName: "Example Health", Languages: []string{"en-US", "es-US"}, Transport: *transport,
	}, log.With("component", "gateway"))
	if err != nil {
		return err
	}
	// The phone in the browser, on the gateway's listener: the demo's only
	// (ivr serve never mounts it). When ctx ends its calls are hung up
	// first, and then the gateway, which answers their status callbacks,
	// stops.
	ph, err := phone.New(phone.Config{GatewayURL: gatewayURL, AuthToken: *token, AgentKey: agentKey, MCPURL: resource,
		PauseScale: 1, Logger: log.With("component", "phone")})
	if err != nil {
		return err
	}
	defer ph.Close()
	a.Handler = ph.Mount(a.Handler)
	gwCtx, stopGateway := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGateway()
	context.AfterFunc(ctx, func() { ph.Close(); stopGateway() })
	fmt.Fprintf(stdout, `
IVR demo is running (Ctrl-C to stop).
  gateway:              %s   (Twilio webhooks at /twilio/, agent API at /v1/, /metrics)
  phone in the browser: %s/phone
  authorization server: %s
  MCP server:           %s
  Redis:                %s

Demo patients (fictional):
%s
Each caller number gets %d verification attempts an hour (-caller-limit or
IVR_CALLER_LIMIT; ivr call -from +12025550143 calls from another number). Why a
call failed is logged here, one "call failed" line with its reason.

In another terminal, call the gateway as Twilio would:

  go run ./cmd/ivr call -url %s -token %s -agent-key %s -mcp-url %s

or unattended:

  printf 'silence\nsay:Maria Garcia\ndtmf:01051980\ndtmf:1234\n' | go run ./cmd/ivr call -url %s -token %s -agent-key %s -mcp-url %s -script -

`, gatewayURL, gatewayURL, issuer, resource, redisName(env), describePatients(pats), callerLimit,
		gatewayURL, *token, agentKey, resource, gatewayURL, *token, agentKey, resource)
	return serveUntilDone(gwCtx, gwLn, a, log, 0) // nothing balances the demo: no drain delay
}

func redisName(env environ) string {
	if env("REDIS_URL") != "" {
		return "REDIS_URL"
	}
	return "embedded (in-process)"
}

// describePatients lists the patients for the banner, saying which ones
// the AS will ask for a texted code and why: their record says so, or their
// name and date of birth also fit another patient (an ambiguous match
// steps up; see lookAlikes).
func describePatients(ps []authserver.Patient) string {
	var b strings.Builder
	alike := lookAlikes(ps)
	for i, p := range ps {
		note := ""
		switch {
		case p.OTPRequired:
			note = "  (asks for a texted code: printed here)"
		case len(alike[i]) > 0:
			note = "  (asks for a texted code: name and DOB also fit " + strings.Join(alike[i], ", ") + ")"
		}
		fmt.Fprintf(&b, "  %-22s DOB %s  SSN last 4: %s%s\n", p.GivenName+" "+p.FamilyName, p.Birthdate, p.SSNLast4, note)
	}
	return b.String()
}

// lookAlikes names, for each patient, the others whose date of birth is the
// same and whose given and family names start alike (after folding case and
// accents): the reference AS matches names tolerantly (Jaro-Winkler and
// Double Metaphone), so "Jon Smith" also fits John Smyth, and a match that
// fits two patients is stepped up to a texted code. A test checks this
// guess against the reference AS for the demo's patients.
func lookAlikes(ps []authserver.Patient) map[int][]string {
	plain := strings.NewReplacer("á", "a", "à", "a", "â", "a", "ä", "a", "ã", "a", "é", "e", "è", "e", "ê", "e", "ë", "e",
		"í", "i", "ì", "i", "î", "i", "ï", "i", "ó", "o", "ò", "o", "ô", "o", "ö", "o", "õ", "o",
		"ú", "u", "ù", "u", "û", "u", "ü", "u", "ñ", "n", "ç", "c")
	initial := func(s string) string {
		for _, r := range plain.Replace(strings.ToLower(strings.TrimSpace(s))) {
			return string(r)
		}
		return ""
	}
	out := map[int][]string{}
	for i, p := range ps {
		for j, q := range ps {
			if i != j && p.Birthdate == q.Birthdate && initial(p.FamilyName) == initial(q.FamilyName) &&
				initial(p.GivenName) == initial(q.GivenName) {
				out[i] = append(out[i], q.GivenName+" "+q.FamilyName)
			}
		}
	}
	return out
}

func loadPatients(path string) ([]authserver.Patient, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("patients: %w (run from the repository root, or pass -patients)", err)
	}
	defer f.Close()
	return authserver.LoadPatients(f)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// runAuthServer runs the reference authorization server alone (docs/as-profile.md).
func runAuthServer(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("authserver", flag.ContinueOnError)
	addr := fs.String("addr", env.or("IVR_AS_ADDR", "127.0.0.1:9000"), "listen address (IVR_AS_ADDR)")
	issuer := fs.String("issuer", env("IVR_AS_ISSUER"), "issuer URL; default http://ADDR (IVR_AS_ISSUER)")
	patients := fs.String("patients", env.or("IVR_AS_PATIENTS", demoPatients), "patient file (IVR_AS_PATIENTS)")
	clientsFile := fs.String("clients", "", "client file: a JSON array of RFC 7591-style client metadata "+
		`([{"client_id":…,"client_secret":…,"scope":"patient.read","resources":["https://…/mcp"]}]), `+
		"or client_id:secret pairs (one per line or comma-separated); default: IVR_AS_CLIENTS, in either form")
	scopes := fs.String("scopes", env.or("IVR_AS_SCOPES", mcpdemo.ScopePatientRead), "scopes a client given as client_id:secret may ask for, space- or comma-separated (IVR_AS_SCOPES)")
	resources := fs.String("resources", env.or("IVR_AS_RESOURCES", "http://127.0.0.1:9100/mcp"), "resources (RFC 8707) a client given as client_id:secret may ask for, comma-separated; the default is what ivr mcp serves (IVR_AS_RESOURCES)")
	clientRate := 120
	if v := env("IVR_AS_CLIENT_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("IVR_AS_CLIENT_RATE=%q is not a number", v)
		}
		clientRate = n
	}
	fs.IntVar(&clientRate, "client-rate", clientRate, "challenge requests per client per minute (IVR_AS_CLIENT_RATE)")
	redisURL := fs.String("redis-url", env("REDIS_URL"), "Redis URL; empty: embedded (REDIS_URL)")
	redisMode := fs.String("redis-mode", env.or("IVR_REDIS_MODE", redisconn.ModeSingle), "single, cluster or sentinel: how to read REDIS_URL (IVR_REDIS_MODE)")
	redisPrefix := fs.String("redis-prefix", env.or("IVR_AS_REDIS_PREFIX", "ivras:"), "prefix of the AS's Redis keys; ivr mcp -as-redis-prefix must be the same (IVR_AS_REDIS_PREFIX)")
	hashKey := fs.String("hash-key", env("IVR_AS_HASH_KEY"), "base64 key for the DOB/SSN hashes; empty: random per start (IVR_AS_HASH_KEY)")
	signingKey := fs.String("signing-key", env("IVR_AS_SIGNING_KEY"), "PEM file of the P-256 key that signs access tokens; empty: a new key per start (IVR_AS_SIGNING_KEY)")
	smsFrom := fs.String("sms-from", env("IVR_AS_SMS_FROM"), "send OTPs by Twilio SMS from this number (with TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN); empty: print them (demo only)")
	logFormat := fs.String("log-format", env.or("IVR_LOG_FORMAT", "json"), "log format: json or text")
	pprofAddr := fs.String("pprof", "", "serve Go's profiler on this loopback address (off when empty)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if clientRate < 1 {
		return errors.New("-client-rate (IVR_AS_CLIENT_RATE) must be at least 1")
	}
	log := newLogger(*logFormat, stderr)
	if *pprofAddr != "" {
		stop, err := startPprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	tr, flushTraces, err := startTracing(ctx, env, log)
	if err != nil {
		return err
	}
	defer flushTraces()
	clients := env("IVR_AS_CLIENTS")
	if *clientsFile != "" {
		b, err := os.ReadFile(*clientsFile)
		if err != nil {
			return fmt.Errorf("clients: %w", err)
		}
		clients = string(b)
	}
	cl, err := authserver.ParseClients(clients, listOf(*scopes), listOf(*resources))
	if err != nil {
		return fmt.Errorf("clients: %w", err)
	}
	pats, err := loadPatients(*patients)
	if err != nil {
		return err
	}
	var key []byte
	if *hashKey != "" {
		if key, err = base64.StdEncoding.DecodeString(*hashKey); err != nil {
			return fmt.Errorf("IVR_AS_HASH_KEY: %w", err)
		}
	}
	var signer *ecdsa.PrivateKey
	if *signingKey != "" {
		if signer, err = loadECKey(*signingKey); err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
	}
	var rdb redis.UniversalClient
	if *redisURL == "" {
		mr, c, err := redisconn.Embedded()
		if err != nil {
			return err
		}
		defer mr.Close()
		log.Warn("REDIS_URL is not set: embedded Redis; lockouts and revocations are lost on restart")
		rdb = c
	} else {
		// Every key the AS writes is one slot: it runs on a cluster too.
		if rdb, err = redisconn.Open(*redisURL, *redisMode); err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
	}
	defer rdb.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *issuer == "" {
		*issuer = "http://" + ln.Addr().String()
	}
	var sender authserver.OTPSender = &authserver.ConsoleSender{W: stdout}
	if *smsFrom != "" {
		sender = authserver.NewTwilioSender(env("TWILIO_ACCOUNT_SID"), env("TWILIO_AUTH_TOKEN"), *smsFrom, "")
	} else {
		log.Warn("OTPs are printed to the console (demo mode); set -sms-from to text them")
	}
	as, err := authserver.New(authserver.Config{
		Issuer: *issuer, Patients: pats, Clients: cl, Redis: rdb, Prefix: *redisPrefix, HashKey: key, SigningKey: signer, OTPSender: sender,
		ClientRateLimit: clientRate, Logger: log, TracerProvider: tr.Provider("ivr-authserver"),
	})
	if err != nil {
		return err
	}
	ids := make([]string, len(cl))
	for i, c := range cl {
		ids[i] = c.ID
	}
	log.Info("authorization server listening", "addr", ln.Addr().String(), "issuer", *issuer, "patients", len(pats),
		"clients", ids, "client_rate", clientRate)
	return serveHandler(ctx, ln, as.Handler())
}

// listOf splits a list given by a flag: commas or spaces separate.
func listOf(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// loadECKey reads a PEM "EC PRIVATE KEY" (SEC 1) or "PRIVATE KEY" (PKCS #8)
// P-256 key, as `openssl ecparam -name prime256v1 -genkey -noout` writes it.
func loadECKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	ec, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		k, perr := x509.ParsePKCS8PrivateKey(block.Bytes)
		if perr != nil {
			return nil, perr
		}
		ec, _ = k.(*ecdsa.PrivateKey)
	}
	if ec == nil || ec.Curve.Params().Name != "P-256" {
		return nil, errors.New("not a P-256 EC key (ES256)")
	}
	return ec, nil
}

// runMCP runs the demo MCP server alone. Revocation is checked in the
// reference AS's Redis (same REDIS_URL and prefix).
func runMCP(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9100", "listen address")
	resource := fs.String("resource", env("IVR_RESOURCE"), "this server's canonical URL, e.g. https://mcp.example.org/mcp (IVR_RESOURCE)")
	issuer := fs.String("issuer", env.or("IVR_AS_ISSUER", env("IVR_AUTH_ISSUER")), "the authorization server's issuer (IVR_AS_ISSUER)")
	redisURL := fs.String("redis-url", env("REDIS_URL"), "the reference AS's Redis, for its revocation list (REDIS_URL); empty: revocation is not checked")
	redisMode := fs.String("redis-mode", env.or("IVR_REDIS_MODE", redisconn.ModeSingle), "single, cluster or sentinel: how to read REDIS_URL (IVR_REDIS_MODE)")
	asPrefix := fs.String("as-redis-prefix", env.or("IVR_AS_REDIS_PREFIX", "ivras:"), "the reference AS's Redis key prefix, its -redis-prefix (IVR_AS_REDIS_PREFIX)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	log := newLogger(env.or("IVR_LOG_FORMAT", "json"), stderr)
	tr, flushTraces, err := startTracing(ctx, env, log)
	if err != nil {
		return err
	}
	defer flushTraces()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *resource == "" {
		*resource = "http://" + ln.Addr().String() + "/mcp"
	}
	if *issuer == "" {
		return errors.New("mcp: -issuer is required")
	}
	revoked := func(context.Context, string) (bool, error) { return false, nil }
	if *redisURL != "" {
		rdb, err := redisconn.Open(*redisURL, *redisMode)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		defer rdb.Close()
		revoked = authserver.RevocationList(rdb, *asPrefix)
	} else {
		log.Warn("REDIS_URL is not set: revoked tokens are accepted until they expire")
	}
	srv, err := mcpdemo.New(mcpdemo.Config{
		Resource: *resource, Issuer: *issuer, JWKSURL: strings.TrimRight(*issuer, "/") + "/oauth/jwks.json",
		Revoked: revoked, Logger: log, TracerProvider: tr.Provider("ivr-mcp"),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	log.Info("MCP server listening", "addr", ln.Addr().String(), "resource", *resource)
	return serveHandler(ctx, ln, srv.Handler())
}

func serveHandler(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := newHTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

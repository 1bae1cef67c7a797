package authserver

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// challengeRequest is an authorization challenge request (FiPA §5.1) with
// the AS-defined KBA parameters of contract §3.
type challengeRequest struct {
	responseType        string
	scope               string
	resource            string
	codeChallenge       string
	codeChallengeMethod string
	authSession         string
	otp                 secret
	givenName           secret
	familyName          secret
	birthdate           secret
	ssnLast4            secret
}

// challengeParams may each appear at most once (RFC 6749 §3.1).
var challengeParams = []string{
	"client_id", "response_type", "scope", "resource", "code_challenge",
	"code_challenge_method", "given_name", "family_name", "birthdate",
	"ssn_last4", "auth_session", "otp",
}

// parseChallengeForm checks the protocol parameters of a challenge request
// from the authenticated client. The KBA answers are checked later, by
// parseKBA, since a step-up request may leave them out.
func parseChallengeForm(form url.Values, client string) (challengeRequest, *oauthError) {
	for _, p := range challengeParams {
		if len(form[p]) > 1 {
			return challengeRequest{}, errRequest("parameter " + p + " repeated")
		}
	}
	if id := form.Get("client_id"); id != "" && id != client {
		return challengeRequest{}, errRequest("client_id does not match the authenticated client")
	}
	req := challengeRequest{
		responseType:        form.Get("response_type"),
		scope:               form.Get("scope"),
		resource:            form.Get("resource"),
		codeChallenge:       form.Get("code_challenge"),
		codeChallengeMethod: form.Get("code_challenge_method"),
		authSession:         form.Get("auth_session"),
		otp:                 secret(form.Get("otp")),
		givenName:           secret(form.Get("given_name")),
		familyName:          secret(form.Get("family_name")),
		birthdate:           secret(form.Get("birthdate")),
		ssnLast4:            secret(form.Get("ssn_last4")),
	}
	switch {
	case req.responseType == "":
		return req, errRequest("response_type is required")
	case req.responseType != "code":
		return req, &oauthError{status: http.StatusBadRequest, Code: "unsupported_response_type"}
	case req.codeChallenge == "":
		return req, errRequest("code_challenge is required (PKCE)")
	case req.codeChallengeMethod != "S256":
		return req, errRequest("code_challenge_method must be S256")
	case !validS256Challenge(req.codeChallenge):
		return req, errRequest("code_challenge is not a base64url SHA-256 value")
	case !validScope(req.scope):
		return req, &oauthError{status: http.StatusBadRequest, Code: "invalid_scope"}
	case req.resource != "" && !validResource(req.resource):
		return req, &oauthError{status: http.StatusBadRequest, Code: "invalid_target", Description: "resource must be an absolute URI without fragment"}
	case len(req.authSession) > 128:
		return req, errInvalidSession()
	case len(req.otp) > 32:
		return req, errRequest("otp too long")
	}
	return req, nil
}

// validS256Challenge: BASE64URL(SHA-256(verifier)) is 43 characters.
func validS256Challenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validScope: space-separated scope-tokens of NQCHAR (RFC 6749 §3.3).
func validScope(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validResource: an absolute URI without fragment (RFC 8707 §2).
func validResource(s string) bool {
	if len(s) > 2048 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Fragment == "" && !strings.Contains(s, "#")
}

// kbaAnswers are the caller's answers, normalised.
type kbaAnswers struct {
	given     []nameKey
	family    []nameKey
	birthdate secret
	ssnLast4  secret
}

// parseKBA checks the KBA parameters. The descriptions name the parameter,
// never its value.
func parseKBA(req challengeRequest) (kbaAnswers, *oauthError) {
	switch {
	case req.givenName == "" || req.familyName == "" || req.birthdate == "" || req.ssnLast4 == "":
		return kbaAnswers{}, errRequest("given_name, family_name, birthdate and ssn_last4 are required")
	case len(req.givenName) > maxNames || len(req.familyName) > maxNames:
		return kbaAnswers{}, errRequest("name too long")
	case !validDate(req.birthdate.reveal()):
		return kbaAnswers{}, errRequest("birthdate must be YYYY-MM-DD")
	case !digits4.MatchString(req.ssnLast4.reveal()):
		return kbaAnswers{}, errRequest("ssn_last4 must be four digits")
	}
	a := kbaAnswers{
		given:     newNameKeys(req.givenName.reveal()),
		family:    newNameKeys(req.familyName.reveal()),
		birthdate: req.birthdate,
		ssnLast4:  req.ssnLast4,
	}
	if len(a.given) == 0 || len(a.family) == 0 {
		return kbaAnswers{}, errRequest("names must contain letters")
	}
	return a, nil
}

// identities are the keyed hashes the brute-force counters are kept under,
// so that no rewording of a claim buys more guesses:
//   - one per part of the claimed family name (the whole name and each part
//     of three letters or more), by its primary Double Metaphone code, with
//     the claimed birthdate: respelling a name, or putting another part in
//     front of it ("X-Garcia", "de Garcia"), still counts against "Garcia";
//   - one per patient whose name and birthdate the claim fits, whatever the
//     SSN digits: every guess at a real patient counts against that patient.
//
// It works whether or not a patient matches, and a lock on any of them
// refuses the request.
func (s *Server) identities(a kbaAnswers, claimed []int) [][]byte {
	var ids [][]byte
	seen := map[string]bool{}
	add := func(id []byte) {
		if !seen[string(id)] {
			seen[string(id)] = true
			ids = append(ids, id)
		}
	}
	for _, f := range a.family {
		if len(f.text) < 3 && len(a.family) > 1 {
			continue // particles and initials ("de", "x") identify nobody
		}
		code := f.primary
		if code == "" {
			code = f.text
		}
		add(mac(s.hashKey, macIdentity, code, a.birthdate.reveal()))
	}
	for _, i := range claimed {
		add(s.patientIdentity(&s.records[i]))
	}
	return ids
}

// patientIdentity is the counter of every guess at one patient.
func (s *Server) patientIdentity(r *record) []byte {
	return mac(s.hashKey, macIdentity, "patient", r.id)
}

// matchResult is the outcome of comparing answers with the patient file.
type matchResult struct {
	rec    *record
	stepUp bool
	// claimed lists the patients whose name and birthdate the answers fit.
	claimed []int
}

// match compares the answers with every patient, without stopping early, so
// the time taken does not depend on which factor failed. A single patient
// matching all three factors gives a code, unless the patient needs an OTP
// or the name and birthdate alone also fit another patient (ambiguous). Two
// or more full matches step up only if exactly one has the exact name.
func (s *Server) match(a kbaAnswers) matchResult {
	dob := mac(s.hashKey, macDOB, a.birthdate.reveal())
	ssn := mac(s.hashKey, macSSN, a.ssnLast4.reveal())
	var full, claimed []int
	nameDOB := 0
	for i := range s.records {
		r := &s.records[i]
		dobOK := hmac.Equal(dob, r.dobMAC)
		ssnOK := hmac.Equal(ssn, r.ssnMAC)
		nameOK := familyMatch(a.family, r.family) && givenMatch(a.given, r.given)
		if dobOK && nameOK {
			nameDOB++
			claimed = append(claimed, i)
			if ssnOK {
				full = append(full, i)
			}
		}
	}
	switch len(full) {
	case 0:
		return matchResult{claimed: claimed}
	case 1:
		r := &s.records[full[0]]
		return matchResult{rec: r, stepUp: r.otpRequired || nameDOB > 1, claimed: claimed}
	}
	var exact []int
	for _, i := range full {
		r := &s.records[i]
		if r.family[0].text == a.family[0].text && r.given[0].text == a.given[0].text {
			exact = append(exact, i)
		}
	}
	if len(exact) == 1 {
		return matchResult{rec: &s.records[exact[0]], stepUp: true, claimed: claimed}
	}
	return matchResult{claimed: claimed}
}

type challengeOK struct {
	AuthorizationCode string `json:"authorization_code"`
	AuthSession       string `json:"auth_session,omitempty"`
}

// handleChallenge is the authorization challenge endpoint (FiPA §4.1, §5).
func (s *Server) handleChallenge(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	client, ok := s.clients.authenticate(r)
	if !ok {
		s.logOutcome(ctx, "challenge", "", "invalid_client", nil)
		writeError(w, errInvalidClient())
		return
	}
	res, outcome, err := s.challenge(ctx, client, r.PostForm)
	s.respond(ctx, w, "challenge", client, res, outcome, err)
}

// respond logs an endpoint's outcome and writes its answer: the result, an
// OAuth error, or temporarily_unavailable when the backend failed.
func (s *Server) respond(ctx context.Context, w http.ResponseWriter, endpoint, client string, res any, outcome string, err error) {
	s.logOutcome(ctx, endpoint, client, outcome, err)
	if err != nil {
		writeError(w, errUnavailable())
		return
	}
	if oe, isErr := res.(*oauthError); isErr {
		writeError(w, oe)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) logOutcome(ctx context.Context, endpoint, client, outcome string, err error) {
	attrs := []slog.Attr{slog.String("endpoint", endpoint), slog.String("client_id", client), slog.String("outcome", outcome)}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(ctx, level, "authserver request", attrs...)
}

// challenge runs one challenge request; it returns the answer (challengeOK
// or *oauthError) and an outcome label for the log. err is a backend
// failure (Redis, SMS), answered with 503.
func (s *Server) challenge(ctx context.Context, client string, form url.Values) (any, string, error) {
	limited, err := s.clientLimited(ctx, client)
	if err != nil {
		return nil, "error", err
	}
	if limited {
		return errSlowDown(), "client_rate_limited", nil
	}
	req, oe := parseChallengeForm(form, client)
	if oe != nil {
		return oe, oe.Code, nil
	}
	var sess *session
	if req.authSession != "" {
		sess, err = s.loadSession(ctx, client, req.authSession)
		if err != nil {
			return nil, "error", err
		}
		if sess == nil {
			return errInvalidSession(), "invalid_session", nil
		}
		if sess.state == stateOTP {
			return s.stepUp(ctx, client, req, sess)
		}
	}
	return s.kba(ctx, client, req, sess)
}

// kba checks the answers of a first (or renewed) challenge request.
func (s *Server) kba(ctx context.Context, client string, req challengeRequest, sess *session) (any, string, error) {
	a, oe := parseKBA(req)
	if oe != nil {
		return oe, oe.Code, nil
	}
	m := s.match(a)
	idents := s.identities(a, m.claimed)
	for _, id := range idents {
		locked, err := s.locked(ctx, id)
		if err != nil {
			return nil, "error", err
		}
		if locked {
			// Refused even when the answers are right: no oracle during a lock.
			return errSlowDown(), "locked", nil
		}
	}
	if m.rec == nil {
		remaining := identityFailures
		for _, id := range idents {
			r, err := s.recordFailure(ctx, id)
			if err != nil {
				return nil, "error", err
			}
			remaining = min(remaining, r)
		}
		return &oauthError{status: http.StatusBadRequest, Code: "access_denied", AttemptsRemaining: &remaining}, "access_denied", nil
	}
	var err error
	// The step-up's counter is the matched patient's: wrong codes lock it.
	ident := s.patientIdentity(m.rec)
	if sess == nil {
		if sess, err = s.createSession(ctx, client); err != nil {
			return nil, "error", err
		}
	}
	if !m.stepUp {
		return s.issueCode(ctx, client, req, sess, m.rec.id, idents, "code")
	}
	otp, err := s.newOTP()
	if err != nil {
		return nil, "error", err
	}
	if err := s.startOTP(ctx, sess, m.rec.id, ident, otp); err != nil {
		return nil, "error", err
	}
	if err := s.otp.SendOTP(ctx, m.rec.phone.reveal(), otp); err != nil {
		s.rdb.Del(context.WithoutCancel(ctx), sess.key)
		return nil, "error", err
	}
	return &oauthError{status: http.StatusForbidden, Code: "insufficient_authorization", AuthSession: sess.token, OTPRequired: true}, "otp_sent", nil
}

// stepUp checks the OTP of a session waiting for one.
func (s *Server) stepUp(ctx context.Context, client string, req challengeRequest, sess *session) (any, string, error) {
	locked, err := s.locked(ctx, sess.ident)
	if err != nil {
		return nil, "error", err
	}
	if locked {
		return errSlowDown(), "locked", nil
	}
	if s.now().UnixMilli() >= sess.otpExp {
		s.rdb.Del(ctx, sess.key)
		return errInvalidSession(), "otp_expired", nil
	}
	if req.otp == "" {
		// Nothing to check: ask again, without sending another code.
		return &oauthError{status: http.StatusForbidden, Code: "insufficient_authorization", AuthSession: sess.token, OTPRequired: true}, "otp_missing", nil
	}
	got := mac(s.hashKey, macOTP, sess.key, req.otp.reveal())
	if subtle.ConstantTimeCompare(got, sess.otpMAC) == 1 {
		// Claim the OTP atomically: of two concurrent requests with the
		// right code, one gets a code and the other is refused.
		n, err := s.rdb.HDel(ctx, sess.key, "otp").Result()
		if err != nil {
			return nil, "error", fmt.Errorf("authserver: claim OTP: %w", err)
		}
		if n == 0 {
			return errInvalidSession(), "otp_race", nil
		}
		return s.issueCode(ctx, client, req, sess, sess.sub, [][]byte{sess.ident}, "code_after_otp")
	}
	tries, err := s.rdb.HIncrBy(ctx, sess.key, "tries", 1).Result()
	if err != nil {
		return nil, "error", fmt.Errorf("authserver: otp tries: %w", err)
	}
	remaining, err := s.recordFailure(ctx, sess.ident)
	if err != nil {
		return nil, "error", err
	}
	left := min(otpTries-int(tries), remaining)
	if left <= 0 {
		s.rdb.Del(ctx, sess.key)
		return &oauthError{status: http.StatusBadRequest, Code: "access_denied", AttemptsRemaining: &remaining}, "otp_exhausted", nil
	}
	return &oauthError{status: http.StatusForbidden, Code: "insufficient_authorization", AuthSession: sess.token, OTPRequired: true, AttemptsRemaining: &left}, "otp_wrong", nil
}

// codeGrant is what an authorization code stands for; it is stored under
// the code's keyed hash for codeTTL and read once.
type codeGrant struct {
	Client    string `json:"c"`
	Sub       string `json:"s"`
	Challenge string `json:"pkce"`
	Resource  string `json:"r,omitempty"`
	Scope     string `json:"sc,omitempty"`
	Exp       int64  `json:"exp"`
}

func (s *Server) issueCode(ctx context.Context, client string, req challengeRequest, sess *session, sub string, idents [][]byte, outcome string) (any, string, error) {
	code, err := s.randToken(32)
	if err != nil {
		return nil, "error", err
	}
	g := codeGrant{
		Client: client, Sub: sub, Challenge: req.codeChallenge, Resource: req.resource,
		Scope: req.scope, Exp: s.now().Add(codeTTL).UnixMilli(),
	}
	b, err := json.Marshal(g)
	if err != nil {
		return nil, "error", fmt.Errorf("authserver: code: %w", err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.key("code", mac(s.hashKey, macCode, code)), b, codeTTL)
		for _, id := range idents {
			p.Del(ctx, s.key("fail", id))
		}
		p.HSet(ctx, sess.key, "st", stateDone)
		p.HDel(ctx, sess.key, "sub", "otp", "oexp", "tries", "ident")
		return nil
	})
	if err != nil {
		return nil, "error", fmt.Errorf("authserver: store code: %w", err)
	}
	return challengeOK{AuthorizationCode: code, AuthSession: sess.token}, outcome, nil
}

// newOTP returns six uniformly random digits.
func (s *Server) newOTP() (string, error) {
	var b [4]byte
	for {
		if _, err := s.rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("authserver: otp: %w", err)
		}
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		// Reject the top partial range so every code is equally likely.
		if v < 4294000000 {
			return fmt.Sprintf("%06d", v%1000000), nil
		}
	}
}

// Session states.
const (
	stateNew  = "new"
	stateOTP  = "otp"
	stateDone = "done"
)

// session is an auth_session (FiPA §5.3.1): a 256-bit random value handed
// to the client, stored under its keyed hash, bound to the client.
type session struct {
	token  string
	key    string
	state  string
	sub    string
	ident  []byte
	otpMAC []byte
	otpExp int64
}

func (s *Server) createSession(ctx context.Context, client string) (*session, error) {
	tok, err := s.randToken(32)
	if err != nil {
		return nil, err
	}
	sess := &session{token: tok, key: s.key("sess", mac(s.hashKey, macSession, tok)), state: stateNew}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, sess.key, "c", client, "st", stateNew, "exp", s.now().Add(sessionTTL).UnixMilli(), "n", 0)
		p.PExpire(ctx, sess.key, sessionTTL)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("authserver: create session: %w", err)
	}
	return sess, nil
}

// loadSession returns the session for tok, or nil when it is unknown,
// expired, another client's, or used more than sessionMaxUses times.
func (s *Server) loadSession(ctx context.Context, client, tok string) (*session, error) {
	k := s.key("sess", mac(s.hashKey, macSession, tok))
	h, err := s.rdb.HGetAll(ctx, k).Result()
	if err != nil {
		return nil, fmt.Errorf("authserver: load session: %w", err)
	}
	if len(h) == 0 || subtle.ConstantTimeCompare([]byte(h["c"]), []byte(client)) != 1 {
		return nil, nil
	}
	exp, _ := strconv.ParseInt(h["exp"], 10, 64)
	if s.now().UnixMilli() >= exp {
		s.rdb.Del(ctx, k)
		return nil, nil
	}
	n, err := s.rdb.HIncrBy(ctx, k, "n", 1).Result()
	if err != nil {
		return nil, fmt.Errorf("authserver: session use: %w", err)
	}
	if n > sessionMaxUses {
		s.rdb.Del(ctx, k)
		return nil, nil
	}
	sess := &session{token: tok, key: k, state: h["st"], sub: h["sub"], ident: []byte(h["ident"]), otpMAC: []byte(h["otp"])}
	sess.otpExp, _ = strconv.ParseInt(h["oexp"], 10, 64)
	return sess, nil
}

func (s *Server) startOTP(ctx context.Context, sess *session, sub string, ident []byte, otp string) error {
	err := s.rdb.HSet(ctx, sess.key,
		"st", stateOTP, "sub", sub, "ident", string(ident),
		"otp", string(mac(s.hashKey, macOTP, sess.key, otp)),
		"oexp", s.now().Add(otpTTL).UnixMilli(), "tries", 0).Err()
	if err != nil {
		return fmt.Errorf("authserver: start OTP: %w", err)
	}
	return nil
}

// locked reports whether the identity is locked out.
func (s *Server) locked(ctx context.Context, ident []byte) (bool, error) {
	until, err := s.rdb.Get(ctx, s.key("lock", ident)).Int64()
	if err == redis.Nil {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("authserver: lock check: %w", err)
	}
	return s.now().UnixMilli() < until, nil
}

// recordFailure counts a failed answer for the identity in a sliding
// failureWindow and locks it at identityFailures; it returns the failures
// left before the lock.
func (s *Server) recordFailure(ctx context.Context, ident []byte) (int, error) {
	now := s.now()
	k := s.key("fail", ident)
	member, err := s.randToken(8)
	if err != nil {
		return 0, err
	}
	var card *redis.IntCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, k, "-inf", "("+strconv.FormatInt(now.Add(-failureWindow).UnixMilli(), 10))
		p.ZAdd(ctx, k, redis.Z{Score: float64(now.UnixMilli()), Member: member})
		card = p.ZCard(ctx, k)
		p.PExpire(ctx, k, failureWindow)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("authserver: count failure: %w", err)
	}
	n := int(card.Val())
	if n < identityFailures {
		return identityFailures - n, nil
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.key("lock", ident), now.Add(lockDuration).UnixMilli(), lockDuration)
		p.Del(ctx, k)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("authserver: lock: %w", err)
	}
	return 0, nil
}

// clientLimited counts a challenge request in the client's one-minute window.
func (s *Server) clientLimited(ctx context.Context, client string) (bool, error) {
	window := s.now().Unix() / 60
	k := s.prefix + "rl:" + client + ":" + strconv.FormatInt(window, 10)
	var n *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.Incr(ctx, k)
		p.Expire(ctx, k, 2*time.Minute)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("authserver: rate limit: %w", err)
	}
	return n.Val() > int64(s.rateLimit), nil
}

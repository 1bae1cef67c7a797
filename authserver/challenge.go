package authserver

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// challengeRequest is an authorization challenge request (FiPA §5.1) with
// the AS-defined KBA parameters of docs/as-profile.md.
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
	req.scope = normalScope(req.scope)
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
	for t := range strings.FieldsSeq(s) {
		if !validScopeToken(t) {
			return false
		}
	}
	// FieldsSeq splits on any Unicode space; only ASCII space separates.
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e })
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
	reg, ok := s.clients.authenticate(r)
	if !ok {
		s.logOutcome(ctx, "challenge", "", "invalid_client", nil)
		writeError(w, errInvalidClient())
		return
	}
	res, outcome, err := s.challenge(ctx, reg, r.PostForm)
	s.respond(ctx, w, "challenge", reg.id, res, outcome, err)
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
func (s *Server) challenge(ctx context.Context, reg *registration, form url.Values) (any, string, error) {
	client := reg.id
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
	// Every request, step-ups included, since the code is issued for the
	// scope and resource of the request that completes the challenge.
	if oe := reg.permits(req.scope, req.resource); oe != nil {
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
//
// Whether the claim fits a patient must not show, in the answer or in the
// work done (see "Lockouts" in the package doc). So every claim reads its
// claim counters and patientSlots patient counters in one round trip, and
// every refused claim, wrong or right, records one failure on each in a
// second. What the caller is told comes from the claim counters alone.
func (s *Server) kba(ctx context.Context, client string, req challengeRequest, sess *session) (any, string, error) {
	a, oe := parseKBA(req)
	if oe != nil {
		return oe, oe.Code, nil
	}
	m := s.match(a)
	ctrs := s.countersFor(a, m.claimed)
	right := m.rec != nil
	// Right answers are only read before they are admitted, so right
	// answers of one patient at once (several calls) never lock each other
	// out.
	read, err := s.touch(ctx, modeCheck, ctrs.keys)
	if err != nil {
		return nil, "error", err
	}
	claimLocked := anyLocked(claim(ctrs, read))
	// For a right answer, the matched patient's own counter: a twin's
	// lock is not hers.
	patientLocked := right && ctrs.patientLocked(read, s.patientIdentity(m.rec))
	if right && !claimLocked && !patientLocked {
		return s.admit(ctx, client, req, sess, m, ctrs)
	}
	failed, err := s.touch(ctx, modeFail, ctrs.keys)
	if err != nil {
		return nil, "error", err
	}
	if claimLocked || anyLocked(claim(ctrs, failed)) {
		// Refused even when the answers are right: no oracle during a
		// lock (one that a concurrent guess set since the read included).
		return errSlowDown(), "locked", nil
	}
	remaining := leastRemaining(claim(ctrs, failed))
	outcome := "access_denied"
	if right {
		// For the operator only: the caller hears what a wrong answer gets.
		outcome = "patient_locked"
	}
	return &oauthError{status: http.StatusBadRequest, Code: "access_denied", AttemptsRemaining: &remaining}, outcome, nil
}

// admit answers a claim that matched a patient and met no lock: a code, or
// the OTP step-up.
func (s *Server) admit(ctx context.Context, client string, req challengeRequest, sess *session, m matchResult, ctrs counters) (any, string, error) {
	var err error
	// The step-up's counter is the matched patient's: wrong codes lock it.
	ident := s.patientIdentity(m.rec)
	if !m.stepUp {
		fresh := sess == nil
		if fresh {
			if sess, err = s.newSession(); err != nil {
				return nil, "error", err
			}
		}
		// A success clears the claim's counters and the patient's, not
		// another patient's the claim also fit.
		return s.issueCode(ctx, client, req, sess, fresh, m.rec.id, append(slices.Clip(claim(ctrs, ctrs.keys)), ident), "code")
	}
	if sess == nil {
		if sess, err = s.createSession(ctx, client); err != nil {
			return nil, "error", err
		}
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

// stepUp checks the OTP of a session waiting for one. Only a caller who
// gave all three answers gets here, so the patient's lock may show.
func (s *Server) stepUp(ctx context.Context, client string, req challengeRequest, sess *session) (any, string, error) {
	r, err := s.touch(ctx, modeCheck, [][]byte{sess.ident})
	if err != nil {
		return nil, "error", err
	}
	if r[0] == locked {
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
		return s.issueCode(ctx, client, req, sess, false, sess.sub, [][]byte{sess.ident}, "code_after_otp")
	}
	tries, err := s.rdb.HIncrBy(ctx, sess.key, "tries", 1).Result()
	if err != nil {
		return nil, "error", fmt.Errorf("authserver: otp tries: %w", err)
	}
	r, err = s.touch(ctx, modeFail, [][]byte{sess.ident})
	if err != nil {
		return nil, "error", err
	}
	remaining := max(r[0], 0)
	left := min(otpTries-int(tries), remaining)
	if left <= 0 {
		s.rdb.Del(ctx, sess.key)
		return &oauthError{status: http.StatusBadRequest, Code: "access_denied", AttemptsRemaining: &remaining}, "otp_exhausted", nil
	}
	return &oauthError{status: http.StatusForbidden, Code: "insufficient_authorization", AuthSession: sess.token, OTPRequired: true, AttemptsRemaining: &left}, "otp_wrong", nil
}

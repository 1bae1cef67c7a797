package asdouble

import (
	"net/http"
	"net/url"
	"strings"
)

type session struct {
	patient  *Patient // set once the KBA answers matched
	otpDue   bool
	failures int
}

type grant struct {
	patient   *Patient
	challenge string
	resource  string
}

// kbaFields are the answers of docs/as-profile.md, never sent with an otp.
var kbaFields = []string{"given_name", "family_name", "birthdate", "ssn_last4"}

// challenge is the authorization challenge endpoint (FiPA -04 §5) with the
// KBA profile: answers or an OTP in, a code, a step-up or an error out.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, f url.Values) {
	s.checkChallenge(f)
	if f.Get("response_type") != "code" || f.Get("code_challenge_method") != "S256" || len(f.Get("code_challenge")) != 43 {
		oauthError(w, 400, "invalid_request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions = map[string]*session{}
	}
	id := f.Get("auth_session")
	sess := s.sessions[id]
	switch {
	case id != "" && sess == nil:
		oauthError(w, 400, "invalid_session")
		return
	case sess == nil:
		id = random()
		sess = &session{}
		s.sessions[id] = sess
	}
	left := s.maxAttempts() - sess.failures
	if left <= 0 {
		oauthError(w, http.StatusTooManyRequests, "slow_down", "auth_session", id)
		return
	}
	var match *Patient
	if otp := f.Get("otp"); otp != "" {
		if sess.otpDue && otp == sess.patient.OTP {
			match = sess.patient
		}
	} else if match = s.match(f); match != nil && match.OTP != "" {
		sess.patient, sess.otpDue = match, true
		oauthError(w, 403, "insufficient_authorization", "auth_session", id, "otp_required", true)
		return
	}
	if match == nil {
		sess.failures++
		oauthError(w, 400, "access_denied", "auth_session", id, "attempts_remaining", left-1)
		return
	}
	code := random()
	if s.codes == nil {
		s.codes = map[string]grant{}
	}
	s.codes[code] = grant{patient: match, challenge: f.Get("code_challenge"), resource: f.Get("resource")}
	key := "authorization_code"
	if s.CodeAlias {
		key = "code"
	}
	writeJSON(w, 200, map[string]any{key: code, "auth_session": id})
}

// checkChallenge reports a challenge request that breaks docs/as-profile.md.
func (s *Server) checkChallenge(f url.Values) {
	if s.Errorf == nil {
		return
	}
	s.checkParam(Challenge, f, "response_type", "code")
	s.checkParam(Challenge, f, "code_challenge_method", "S256")
	s.checkParam(Challenge, f, "scope", s.Scope)
	s.checkParam(Challenge, f, "resource", s.Resource)
	s.checkParam(Challenge, f, "redirect_uri", "")
	if cc := f["code_challenge"]; len(cc) != 1 || len(cc[0]) != 43 || strings.ContainsAny(cc[0], "+/=") {
		s.deviation("challenge: code_challenge %q is not one base64url SHA-256", cc)
	}
	if f.Has("otp") {
		for _, k := range kbaFields {
			s.checkParam(Challenge, f, k, "")
		}
		if f.Get("auth_session") == "" {
			s.deviation("challenge: otp without auth_session")
		}
	}
}

func (s *Server) maxAttempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return 3
}

// match finds the patient the KBA answers name; names compare without case.
func (s *Server) match(f url.Values) *Patient {
	for i := range s.Patients {
		p := &s.Patients[i]
		if strings.EqualFold(p.Given, f.Get("given_name")) && strings.EqualFold(p.Family, f.Get("family_name")) &&
			p.Birthdate == f.Get("birthdate") && p.SSN4 == f.Get("ssn_last4") {
			return p
		}
	}
	return nil
}

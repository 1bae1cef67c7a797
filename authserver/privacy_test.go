package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/internal/redistest"
)

// TestNoPersonalDataInLogsOrRedis runs every kind of flow with a captured
// JSON log and asserts that no identity value (name, DOB, SSN-4, OTP, phone)
// appears in the log, in a Redis key name, or (DOB, SSN-4, phone, names) in
// a stored Redis value.
func TestNoPersonalDataInLogsOrRedis(t *testing.T) {
	t.Parallel()
	as := newTestAS(t, "")
	ctx := context.Background()

	// Success, token, revocation.
	code, v := as.codeFor(t)
	tok := as.tokenReq(t, tokenForm(code, v)).str("access_token")
	as.do(t, http.MethodPost, "/oauth/revoke", url.Values{"token": {tok}}, testClient, testSecret)
	// OTP step-up with a miss, then the right code.
	verifier, ch := pkce(t)
	a := as.challenge(t, kbaForm(ch, "Ana", "López-Ortega", "1990-07-22", "4321"))
	_, otp := as.lastOTP(t)
	as.challenge(t, stepUpForm(ch, a.str("auth_session"), "999999"))
	a = as.challenge(t, stepUpForm(ch, a.str("auth_session"), otp))
	as.tokenReq(t, tokenForm(a.str("authorization_code"), verifier))
	// Failures up to and into a lock, and a pending OTP left in Redis.
	for range 4 {
		as.challenge(t, kbaForm(ch, "Jon", "Smith", "1975-03-10", "0000"))
	}
	as.challenge(t, kbaForm(ch, "John", "Smith", "1975-03-11", "9012"))
	as.challenge(t, kbaForm(ch, "Ana", "Lopez", "1990-07-22", "4321"))
	_, otp2 := as.lastOTP(t)
	// Bad requests and bad clients.
	as.challenge(t, with(mariaForm(ch), "birthdate", "05/01/1980"))
	as.do(t, http.MethodPost, "/oauth/challenge", mariaForm(ch), testClient, "wrong")

	personal := []string{
		"Maria", "María", "Garcia", "García", "garcia", "Ana", "López", "Lopez", "lopez", "Ortega", "ortega",
		"Smith", "smith", "Smyth", "1980-01-05", "1990-07-22", "1975-03-10", "1975-03-11", "05/01/1980",
		"+15555550123", "5555550126", "5555550124", "5555550125", otp, otp2, "999999",
	}
	logs := as.logs.String()
	for _, outcome := range []string{`"outcome":"code"`, `"outcome":"otp_sent"`, `"outcome":"otp_wrong"`, `"outcome":"code_after_otp"`,
		`"outcome":"access_denied"`, `"outcome":"locked"`, `"outcome":"token"`, `"outcome":"revoked"`, `"outcome":"invalid_client"`} {
		if !strings.Contains(logs, outcome) {
			t.Errorf("log lacks %s", outcome)
		}
	}
	for _, v := range append(personal, "4321", "1234", "5678", "9012") {
		if strings.Contains(logs, v) {
			t.Errorf("log contains %q", v)
		}
	}

	keys, err := redistest.Keys(ctx, as.rdb, as.prefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no Redis keys under the prefix")
	}
	for _, k := range keys {
		for _, v := range append(personal, "4321", "1234", "5678", "9012") {
			// Keys hold base64 MACs: a 3-letter name may occur by chance.
			if len(v) >= 4 && strings.Contains(k, v) {
				t.Errorf("Redis key %q contains %q", k, v)
			}
		}
		var vals []string
		switch as.rdb.Type(ctx, k).Val() {
		case "string":
			vals = []string{as.rdb.Get(ctx, k).Val()}
		case "hash":
			for f, v := range as.rdb.HGetAll(ctx, k).Val() {
				vals = append(vals, f, v)
			}
		case "zset":
			vals = as.rdb.ZRange(ctx, k, 0, -1).Val()
		}
		for _, val := range vals {
			for _, v := range personal[:len(personal)-3] { // OTPs: 6 digits may occur in timestamps
				if len(v) >= 4 && strings.Contains(val, v) {
					t.Errorf("Redis value of %q contains %q", k, v)
				}
			}
		}
	}
}

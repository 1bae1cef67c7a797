package ivr

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestValidCallSid(t *testing.T) {
	for _, tc := range []struct {
		sid  string
		want bool
	}{
		{"CA0123456789abcdef0123456789abcdef", true},
		{"CA0123456789ABCDEF0123456789ABCDEF", true},
		{"", false},
		{"CA0123456789abcdef0123456789abcde", false},   // 33
		{"CA0123456789abcdef0123456789abcdef0", false}, // 35
		{"CB0123456789abcdef0123456789abcdef", false},
		{"ca0123456789abcdef0123456789abcdef", false},
		{"CA0123456789abcdef0123456789abcdeg", false},
		{"CA0123456789abcdef0123456789abc}{f", false},
		{"CA0123456789abcdef0123456789abc:ef", false},
	} {
		if got := ValidCallSid(tc.sid); got != tc.want {
			t.Errorf("ValidCallSid(%q) = %v, want %v", tc.sid, got, tc.want)
		}
	}
}

func TestPhases(t *testing.T) {
	for _, p := range []Phase{PhaseCollecting, PhaseVerifying, PhaseVerified, PhaseFailed, PhaseEnded} {
		if !p.Valid() {
			t.Errorf("%s not valid", p)
		}
	}
	if Phase("done").Valid() || Phase("").Valid() {
		t.Error("unknown phase valid")
	}
	if PhaseCollecting.Final() || PhaseVerifying.Final() || !PhaseVerified.Final() || !PhaseFailed.Final() || !PhaseEnded.Final() {
		t.Error("Final wrong")
	}
	if !EventVerified.Valid() || Event("x").Valid() {
		t.Error("event validity wrong")
	}
}

func TestTokenRedacts(t *testing.T) {
	const secret = "eyJsecret-access-token"
	tok := Token{AccessToken: secret, TokenType: "Bearer", Scope: "patient.read", ExpiresAt: time.Unix(0, 0)}
	holder := struct{ T Token }{tok}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "token", tok, "holder", holder)
	js, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		tok.String(), fmt.Sprintf("%v", tok), fmt.Sprintf("%+v", holder), fmt.Sprintf("%#v", holder),
		fmt.Sprintf("%s", tok), logged.String(), string(js),
	} {
		if strings.Contains(s, secret) {
			t.Errorf("access token printed: %s", s)
		}
	}
}

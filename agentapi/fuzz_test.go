package agentapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/agentapi"
	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/store"
)

// FuzzRequest feeds the API the three things an agent controls: the call
// SID in the path, ?wait= and the Authorization header. Whatever comes in, the
// answer is a 4xx or the stored token, auth is decided before anything else,
// and no personal data comes back.
func FuzzRequest(f *testing.F) {
	rdb, prefix := redistest.Client(f)
	st, err := store.New(rdb, store.Options{Prefix: prefix, SessionKey: sessionKey})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	h := &harness{store: st}
	const sid = "CAf0220000000000000000000000000001"
	h.saveCall(f, sid, ivr.PhaseVerified, 1, testToken())
	// A 1 ms cap keeps long-polls on unknown calls from slowing the fuzzer.
	a, err := agentapi.New(agentapi.Config{Keys: []string{agentKey}, MaxWait: time.Millisecond}, st)
	if err != nil {
		f.Fatal(err)
	}
	api := a.Handler()

	for _, s := range [][3]string{
		{sid, "", bearer(agentKey)},
		{sid, "20s", bearer(agentKey)},
		{sid, "1h", "Bearer  " + agentKey + " "},
		{"CAunknown", "5ms", bearer(agentKey)},
		{"../../token", "x", bearer(agentKey)},
		{"CA%00{x}", "-1ns", bearer(agentKey)},
		{sid, "", "Bearer"},
		{sid, "", "bearer " + agentKey},
		{strings.Repeat("C", 200), "9999999999h", bearer(agentKey)},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, sid, wait, auth string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = "/v1/calls/" + sid + "/token"
		req.URL.RawQuery = "wait=" + url.QueryEscape(wait)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)

		// The scheme is case-insensitive (RFC 9110 §11.1); the key is not.
		scheme, key, _ := strings.Cut(auth, " ")
		mayPass := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(key) == agentKey
		mustPass := strings.HasPrefix(auth, "Bearer ") && strings.TrimSpace(auth[len("Bearer "):]) == agentKey
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		case rec.Code == http.StatusUnauthorized && mustPass:
			t.Fatalf("the right key got 401")
		case rec.Code == http.StatusOK && !mayPass:
			t.Fatalf("a wrong key got 200")
		}
		if rec.Header().Get("Content-Type") == "application/json" && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("invalid JSON body %q", rec.Body)
		}
		for _, secret := range personalData {
			if strings.Contains(rec.Body.String(), secret) {
				t.Fatalf("response holds personal data: %s", rec.Body)
			}
		}
	})
}

func BenchmarkToken(b *testing.B) {
	h := newHarness(b)
	sid := newSid()
	h.saveCall(b, sid, ivr.PhaseVerified, 1, testToken())
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+"/v1/calls/"+sid+"/token", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", bearer(agentKey))
	b.ReportAllocs()
	for b.Loop() {
		res, err := h.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}

// BenchmarkTokenHandler is the handler alone, without loopback HTTP: what
// the API itself costs per request, with its Redis round trips: one HGETALL
// for a verified call; a long-poll on an unknown call adds the status HMGET
// and answers 404 without waiting.
func BenchmarkTokenHandler(b *testing.B) {
	h := newHarness(b)
	verified := newSid()
	h.saveCall(b, verified, ivr.PhaseVerified, 1, testToken())
	a, err := agentapi.New(agentapi.Config{Keys: []string{agentKey}}, h.store)
	if err != nil {
		b.Fatal(err)
	}
	var trips store.RoundTripCounter
	h.rdb.AddHook(&trips)
	api := a.Handler()
	for _, bc := range []struct {
		name, path string
		want       int
	}{
		{"verified", "/v1/calls/" + verified + "/token", http.StatusOK},
		{"unknown call with wait", "/v1/calls/" + newSid() + "/token?wait=30s", http.StatusNotFound},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			req.Header.Set("Authorization", bearer(agentKey))
			trips.Reset()
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, req)
				if rec.Code != bc.want {
					b.Fatalf("status %d", rec.Code)
				}
			}
			b.ReportMetric(float64(trips.Count())/float64(b.N), "roundtrips/op")
		})
	}
}

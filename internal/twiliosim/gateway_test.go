package twiliosim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/twilio/twilio-go/client"
)

const (
	testToken  = "test-auth-token-0123456789abcdef"
	testPublic = "https://ivr.example.org"
)

// request is one request the fake gateway received.
type request struct {
	Method, URI, Body, Signature string
	Form                         url.Values // body params (POST) or query params (GET)
}

// reply is a canned gateway answer.
type reply struct {
	Status   int    // 0 = 200
	Location string // for 3xx
	Type     string // "" = text/xml
	Body     string
}

// fakeGateway plays the gateway side of Twilio: every request must carry a
// signature twilio-go's validator accepts (else 403, as the gateway does),
// and each path answers from a script of replies (the last one repeats).
type fakeGateway struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string][]reply
	reqs   []request
}

func newGateway(tb testing.TB, routes map[string][]reply) *fakeGateway {
	tb.Helper()
	g := &fakeGateway{t: tb, routes: routes}
	v := client.NewRequestValidator(testToken)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		sig := r.Header.Get("X-Twilio-Signature")
		full := testPublic + r.RequestURI
		req := request{Method: r.Method, URI: r.RequestURI, Body: string(b), Signature: sig}
		var ok bool
		if r.Method == http.MethodGet {
			req.Form = r.URL.Query()
			ok = v.Validate(full, nil, sig)
		} else {
			req.Form, err = url.ParseQuery(string(b))
			if err != nil {
				http.Error(w, "form", http.StatusBadRequest)
				return
			}
			ok = v.ValidateBody(full, b, sig) && v.Validate(full, first(req.Form), sig)
		}
		g.mu.Lock()
		g.reqs = append(g.reqs, req)
		rs := g.routes[r.URL.Path]
		var rep reply
		if len(rs) > 0 {
			rep = rs[0]
			if len(rs) > 1 {
				g.routes[r.URL.Path] = rs[1:]
			}
		} else {
			rep = reply{Status: http.StatusNotFound}
		}
		g.mu.Unlock()
		if !ok {
			tb.Errorf("%s %s: signature rejected by twilio-go", r.Method, r.RequestURI)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if rep.Location != "" {
			w.Header().Set("Location", rep.Location)
		}
		ct := rep.Type
		if ct == "" {
			ct = "text/xml"
		}
		w.Header().Set("Content-Type", ct)
		if rep.Status != 0 {
			w.WriteHeader(rep.Status)
		}
		io.WriteString(w, rep.Body)
	}))
	tb.Cleanup(g.srv.Close)
	return g
}

func first(v url.Values) map[string]string {
	m := make(map[string]string, len(v))
	for k, vs := range v {
		m[k] = vs[0]
	}
	return m
}

// requests returns what the gateway received so far.
func (g *fakeGateway) requests() []request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]request(nil), g.reqs...)
}

// last returns the last request received.
func (g *fakeGateway) last() request {
	g.t.Helper()
	rs := g.requests()
	if len(rs) == 0 {
		g.t.Fatal("gateway received no request")
	}
	return rs[len(rs)-1]
}

// config is a call configuration aimed at the gateway, with fixed
// identifiers so request bodies are reproducible.
func (g *fakeGateway) config() Config {
	return Config{
		BaseURL:    g.srv.URL,
		PublicURL:  testPublic,
		AuthToken:  testToken,
		AccountSid: "AC00000000000000000000000000000001",
		CallSid:    "CA00000000000000000000000000000001",
		From:       "+15555550142",
		To:         "+15555550100",
		HTTPClient: g.srv.Client(),
	}
}

// twiml wraps verbs in a TwiML document as the twilio-go builder does.
func twiml(verbs string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Response>` + verbs + `</Response>`
}

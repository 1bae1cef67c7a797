package app

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ivr-gateway/ivr/authclient"
)

// asTransport times every request to the authorization server, labelled by
// endpoint (from the discovered metadata) and outcome (HTTP status class or
// "error"). Bounded labels only: never a URL, a client id or a call SID.
type asTransport struct {
	base      http.RoundTripper
	endpoints map[string]string
	seconds   *prometheus.HistogramVec
}

func newASTransport(base http.RoundTripper, reg prometheus.Registerer) *asTransport {
	if base == nil {
		// Every verification is two requests to the AS (three with the
		// revocation when the call ends), from as many webhooks at once as
		// there are callers verifying: keep enough connections open that
		// none is dialled per request (http.DefaultTransport keeps two).
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 64
		t.IdleConnTimeout = 90 * time.Second
		base = t
	}
	t := &asTransport{base: base, endpoints: map[string]string{},
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ivr_as_request_duration_seconds",
			Help:    "Requests to the authorization server, by endpoint and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint", "outcome"})}
	reg.MustRegister(t.seconds)
	return t
}

// learn maps the metadata's endpoint URLs to label values.
func (t *asTransport) learn(md *authclient.Metadata) {
	t.endpoints = map[string]string{
		md.AuthorizationChallengeEndpoint: "challenge",
		md.TokenEndpoint:                  "token",
		md.RevocationEndpoint:             "revocation",
	}
}

// endpoint names the AS endpoint req is for.
func (t *asTransport) endpoint(req *http.Request) string {
	u := *req.URL
	u.RawQuery = ""
	if endpoint, ok := t.endpoints[u.String()]; ok {
		return endpoint
	}
	return "metadata"
}

// spanName names the client span of a request to the AS (internal/tracing):
// "AS challenge", "AS token" (the token exchange), "AS revocation", "AS
// metadata".
func (t *asTransport) spanName(req *http.Request) string { return "AS " + t.endpoint(req) }

func (t *asTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint := t.endpoint(req)
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	outcome := "error"
	if err == nil {
		outcome = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	t.seconds.WithLabelValues(endpoint, outcome).Observe(time.Since(start).Seconds())
	return resp, err
}

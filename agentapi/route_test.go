package agentapi

import (
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr"
)

// FuzzRoute feeds the router escaped paths as a client may send them: it
// accepts exactly /v1/calls/{SID} and /v1/calls/{SID}/token with a valid
// SID, so nothing else can reach the store or a key name.
func FuzzRoute(f *testing.F) {
	const sid = "CA0123456789abcdef0123456789abcdef"
	for _, s := range []string{
		"/v1/calls/" + sid, "/v1/calls/" + sid + "/token", "/v1/calls/" + sid + "/token/",
		"/v1/calls/..%2f" + sid + "/token", "/v1/calls/" + sid + "%2Ftoken", "/v1/calls//" + sid,
		"/v1/calls/CA{x}/token", "/v1/calls/", "/v1/calls/%43%41" + sid[2:], "/v1/calls/" + sid + "/answers",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, token, ok := route(p)
		if !ok {
			return
		}
		if !ivr.ValidCallSid(got) {
			t.Fatalf("route(%q) accepted SID %q", p, got)
		}
		want := "/v1/calls/" + got
		if token {
			want += "/token"
		}
		if p != want {
			t.Fatalf("route(%q) = %q, %v: the path is not %q", p, got, token, want)
		}
		if strings.ContainsAny(got, "{}:/%.") {
			t.Fatalf("route(%q) let %q through", p, got)
		}
	})
}

package authclient

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/authserver"
	"github.com/ivr-gateway/ivr/internal/asdouble"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

// TestCheckCredentials: a wrong client secret is found by one harmless
// request (a revocation of a random token, or without a revocation endpoint
// a token request for a random code), and only a refusal of the client is
// reported as one.
func TestCheckCredentials(t *testing.T) {
	const id, secret = "ivr-gateway", "s3cret/+ é"
	tests := []struct {
		name   string
		secret string
		mod    func(*asdouble.Server)
		want   error // nil, ErrBadCredentials, ErrMisconfigured or ErrUnavailable
		probe  string
	}{
		{"good client, revocation", secret, nil, nil, asdouble.Revoke},
		{"wrong secret, revocation", "wrong", nil, ErrBadCredentials, asdouble.Revoke},
		{"good client, no revocation endpoint", secret, func(s *asdouble.Server) { s.NoRevocation = true }, nil, asdouble.Token},
		{"wrong secret, no revocation endpoint", "wrong", func(s *asdouble.Server) { s.NoRevocation = true }, ErrBadCredentials, asdouble.Token},
		{"AS failing", secret, func(s *asdouble.Server) { s.SetFailing(true) }, ErrUnavailable, asdouble.Revoke},
		{"client not allowed", secret, func(s *asdouble.Server) {
			s.Script(asdouble.Revoke, asdouble.Canned{Status: 400, Body: `{"error":"unauthorized_client"}`})
		}, ErrMisconfigured, asdouble.Revoke},
		{"invalid_client with 400", secret, func(s *asdouble.Server) {
			s.Script(asdouble.Revoke, asdouble.Canned{Status: 400, Body: `{"error":"invalid_client"}`})
		}, ErrBadCredentials, asdouble.Revoke},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &asdouble.Server{ClientID: id, ClientSecret: secret, Resource: "https://mcp.example.test/mcp"}
			asdouble.Serve(t, d) // wire checks on: the probe must follow the profile too
			if tt.mod != nil {
				tt.mod(d)
			}
			md, err := Discover(context.Background(), d.Client(), d.Issuer)
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(Config{Metadata: md, ClientID: id, ClientSecret: tt.secret, Resource: d.Resource, HTTPClient: d.Client()})
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckCredentials(context.Background())
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("CheckCredentials: %v", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("CheckCredentials: %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error shows the secret: %v", err)
			}
			reqs := d.Requests()
			if len(reqs) != 1 || reqs[0].Endpoint != tt.probe {
				t.Errorf("requests = %+v, want one to %s", reqs, tt.probe)
			}
		})
	}

	t.Run("AS unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + ln.Addr().String()
		ln.Close()
		c, err := New(Config{Metadata: &Metadata{Issuer: base, AuthorizationChallengeEndpoint: base + "/challenge",
			TokenEndpoint: base + "/token", RevocationEndpoint: base + "/revoke"}, ClientID: id, ClientSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CheckCredentials(context.Background()); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("CheckCredentials: %v, want ErrUnavailable", err)
		}
	})
}

// TestCheckCredentialsReferenceAS runs the probe against the reference AS
// (package authserver) on the real Redis: its revocation endpoint accepts
// the registered client and refuses a wrong secret.
func TestCheckCredentialsReferenceAS(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	f, err := os.Open("../authserver/testdata/patients.json")
	if err != nil {
		t.Fatal(err)
	}
	pats, err := authserver.LoadPatients(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	as, err := authserver.New(authserver.Config{
		Issuer: issuer, Patients: pats, Redis: rdb, Prefix: prefix,
		Clients:   []authserver.Client{{ID: "ivr-gateway", Secret: "right", Scopes: []string{"patient.read"}}},
		OTPSender: &authserver.ConsoleSender{W: &strings.Builder{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = as.Handler()
	srv.Start()
	defer srv.Close()
	md, err := Discover(context.Background(), srv.Client(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		secret string
		want   error
	}{{"right", nil}, {"wrong", ErrBadCredentials}} {
		c, err := New(Config{Metadata: md, ClientID: "ivr-gateway", ClientSecret: tt.secret, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckCredentials(context.Background())
		if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("secret %q: CheckCredentials = %v, want %v", tt.secret, err, tt.want)
		}
	}
}

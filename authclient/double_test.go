package authclient

import (
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/asdouble"
)

// Test credentials with characters RFC 6749 §2.3.1 makes the client
// form-encode before Basic.
const (
	testClientID     = "ivr-gateway:prod"
	testClientSecret = "p@ss word/+=é"
	testScope        = "patient/*.read openid"
	testIssuerPath   = "/tenant1"
	maxTestAttempts  = 3
)

// testPatients are the identities the double knows; John needs an OTP.
var testPatients = []asdouble.Patient{
	{ID: "pat-1", Given: "Maria", Family: "Garcia", Birthdate: "1980-01-05", SSN4: "1234"},
	{ID: "pat-2", Given: "John", Family: "Smith", Birthdate: "1975-12-31", SSN4: "9876", OTP: "424242"},
}

// newDouble serves the project's AS double (internal/asdouble) the way these
// tests want it: an issuer path, an RFC 9728 resource on the same host, a
// scope the AS narrows, and wire checks reported to t. mods run before it
// serves.
func newDouble(t testing.TB, mods ...func(*asdouble.Server)) *asdouble.Server {
	t.Helper()
	d := &asdouble.Server{
		IssuerPath:   testIssuerPath,
		ResourcePath: "/mcp",
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		Patients:     testPatients,
		Scope:        testScope,
		GrantedScope: "patient/*.read",
		TokenTTL:     time.Hour,
		MaxAttempts:  maxTestAttempts,
	}
	for _, m := range mods {
		m(d)
	}
	return asdouble.Serve(t, d)
}

// doubleMetadata is the metadata the double publishes, built independently
// of it.
func doubleMetadata(d *asdouble.Server, revocation bool) *Metadata {
	md := &Metadata{
		Issuer:                            d.Issuer,
		AuthorizationChallengeEndpoint:    d.Issuer + "/challenge",
		TokenEndpoint:                     d.Issuer + "/token",
		CodeChallengeMethodsSupported:     []string{"S256"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic"},
	}
	if revocation {
		md.RevocationEndpoint = d.Issuer + "/revoke"
	}
	return md
}

// testClient returns a Client for d with the test credentials.
func testClient(tb testing.TB, d *asdouble.Server, mod ...func(*Config)) *Client {
	tb.Helper()
	cfg := Config{
		Metadata:     doubleMetadata(d, !d.NoRevocation),
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		Scope:        d.Scope,
		Resource:     d.Resource,
		HTTPClient:   d.Client(),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

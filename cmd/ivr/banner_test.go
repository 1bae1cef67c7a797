package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/authclient"
	"github.com/ivr-gateway/ivr/authserver"
	"github.com/ivr-gateway/ivr/internal/redistest"
)

// TestBannerSaysWhoGetsACode (issue 15 item 7): the demo's banner marks
// exactly the patients the reference AS asks for a texted code when they
// answer correctly: Ana, whose record says so, and Jon Smith and John
// Smyth, whose names and date of birth fit each other (an ambiguous match
// steps up). Checked against the AS itself, so the banner's guess
// (lookAlikes) cannot drift from what the AS does.
func TestBannerSaysWhoGetsACode(t *testing.T) {
	pats, err := loadPatients("../../" + demoPatients)
	if err != nil {
		t.Fatal(err)
	}
	rdb, prefix := redistest.Client(t)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	as, err := authserver.New(authserver.Config{
		Issuer: issuer, Patients: pats, Redis: rdb, Prefix: prefix,
		Clients:   []authserver.Client{{ID: "ivr-gateway", Secret: "s", Scopes: []string{"patient.read"}}},
		OTPSender: &authserver.ConsoleSender{W: &strings.Builder{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = as.Handler()
	srv.Start()
	defer srv.Close()
	md, err := authclient.Discover(context.Background(), srv.Client(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := authclient.New(authclient.Config{Metadata: md, ClientID: "ivr-gateway", ClientSecret: "s", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	banner := strings.Split(describePatients(pats), "\n")
	marked := 0
	for i, p := range pats {
		r := c.Verify(context.Background(), authclient.Answers{
			GivenName: p.GivenName, FamilyName: p.FamilyName, Birthdate: p.Birthdate, SSNLast4: p.SSNLast4,
		})
		asks := r.Outcome == authclient.OTPRequired
		says := strings.Contains(banner[i], "asks for a texted code")
		if asks != says || (r.Outcome != authclient.Verified && !asks) {
			t.Errorf("%s: the AS answers %s; the banner says %q", p.ID, r.Outcome, banner[i])
		}
		if says {
			marked++
		}
	}
	if marked != 3 {
		t.Errorf("%d patients marked, want Ana, Jon Smith and John Smyth", marked)
	}
	if !strings.Contains(banner[1], "also fit John Smyth") {
		t.Errorf("Jon Smith's line does not say why: %q", banner[1])
	}
}

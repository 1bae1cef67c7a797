package authclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/asdouble"
)

func TestRevoke(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []func(*asdouble.Server)
		script   []asdouble.Canned
		timeout  time.Duration
		wantErr  string // substring; "" wants nil
		wantReqs int
	}{
		{name: "200 for an unknown token", wantReqs: 1},
		{name: "none advertised", opts: []func(*asdouble.Server){func(d *asdouble.Server) { d.NoRevocation = true }}, wantReqs: 0},
		{name: "503 with Retry-After 0, then 200",
			script:   []asdouble.Canned{{Status: 503, Header: map[string]string{"Retry-After": "0"}}},
			wantReqs: 2},
		{name: "503 with a past HTTP-date, then 200",
			script:   []asdouble.Canned{{Status: 503, Header: map[string]string{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}}},
			wantReqs: 2},
		{name: "503 twice",
			script: []asdouble.Canned{
				{Status: 503, Header: map[string]string{"Retry-After": "0"}},
				{Status: 503, Header: map[string]string{"Retry-After": "0"}},
			},
			wantErr: "HTTP 503", wantReqs: 2},
		{name: "503 with Retry-After beyond the deadline", timeout: time.Second,
			script:  []asdouble.Canned{{Status: 503, Header: map[string]string{"Retry-After": "5"}}},
			wantErr: "HTTP 503", wantReqs: 1},
		{name: "503 with Retry-After beyond DefaultTimeout",
			script:  []asdouble.Canned{{Status: 503, Header: map[string]string{"Retry-After": "3600"}}},
			wantErr: "HTTP 503", wantReqs: 1},
		{name: "503 without Retry-After",
			script:  []asdouble.Canned{{Status: 503}},
			wantErr: "HTTP 503", wantReqs: 1},
		{name: "400 unsupported_token_type",
			script:  []asdouble.Canned{{Status: 400, Body: `{"error":"unsupported_token_type"}`}},
			wantErr: `error="unsupported_token_type"`, wantReqs: 1},
		{name: "hangs past the deadline", timeout: 50 * time.Millisecond,
			script:  []asdouble.Canned{{Hang: true}},
			wantErr: "deadline exceeded", wantReqs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDouble(t, tt.opts...)
			d.Script(asdouble.Revoke, tt.script...)
			c := testClient(t, d)
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			const token = "at-planted-secret"
			err := c.Revoke(ctx, token)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrRevocation) {
					t.Fatalf("Revoke error = %v, want %q and ErrRevocation", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), token) {
					t.Errorf("error carries the token: %v", err)
				}
			}
			forms := d.Forms(asdouble.Revoke)
			if len(forms) != tt.wantReqs {
				t.Errorf("%d revocation requests, want %d", len(forms), tt.wantReqs)
			}
			for _, f := range forms {
				if f.Get("token") != token {
					t.Errorf("token = %q", f.Get("token"))
				}
			}
		})
	}
}

func TestRevokeEmptyToken(t *testing.T) {
	t.Parallel()
	d := newDouble(t)
	if err := testClient(t, d).Revoke(t.Context(), ""); !errors.Is(err, ErrRevocation) {
		t.Errorf("Revoke(\"\") = %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	c := &Client{now: func() time.Time { return fixedNow }}
	tests := []struct {
		h    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"2", 2 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false},
		{fixedNow.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, true},
		{fixedNow.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{fixedNow.Add(time.Hour).Format(http.TimeFormat), 0, false},
	}
	for _, tt := range tests {
		got, ok := c.retryAfter(context.Background(), tt.h)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.h, got, ok, tt.want, tt.ok)
		}
	}
}

package mcpdemo_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestToolsNeedPatientRead (issue 9, item 4): a token without patient.read
// may connect and list the tools, but calling one answers 403 with
// WWW-Authenticate: Bearer error="insufficient_scope" naming the scope
// (MCP authorization, scope challenge handling), and the tool never runs.
func TestToolsNeedPatientRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := validClaims(e.url)
	c.Scope = "appointments mcp:read"
	tok := e.as.mint(t, c)
	cs := connect(t, e.url, tok)
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatalf("tools/list without patient.read: %v", err)
	}
	for _, tool := range []string{"whoami", "next_appointment"} {
		if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool}); err == nil {
			t.Errorf("%s without patient.read: %+v, want an error", tool, res)
		}
	}

	want := `Bearer error="insufficient_scope", scope="patient.read", resource_metadata="` + e.srv.MetadataURL() +
		`", error_description="this tool needs the patient.read scope"`
	for _, tt := range []struct {
		name, body string
		forbidden  bool
	}{
		{"whoami", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}`, true},
		{"next_appointment", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"next_appointment","arguments":{}}}`, true},
		{"in a batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}]`, true},
		{"after a malformed batch element", `[{"jsonrpc":"2.0","id":1,"params":7},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}]`, true},
		{"another method", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, false},
		{"an unknown tool", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope"}}`, false},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", cs.ID())
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := resp.Header.Get("WWW-Authenticate")
		switch {
		case tt.forbidden && (resp.StatusCode != http.StatusForbidden || got != want):
			t.Errorf("%s: %d %q, want 403 %q", tt.name, resp.StatusCode, got, want)
		case !tt.forbidden && resp.StatusCode == http.StatusForbidden:
			t.Errorf("%s: 403, want it to reach the MCP server", tt.name)
		}
	}

	// With patient.read the same session's calls work.
	c.Scope = "patient.read"
	who := callTool[struct {
		Scope string `json:"scope"`
	}](t, connect(t, e.url, e.as.mint(t, c)), "whoami")
	if who.Scope != "patient.read" {
		t.Errorf("whoami scope = %q", who.Scope)
	}
}

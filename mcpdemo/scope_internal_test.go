package mcpdemo

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestToolsCheckScopeThemselves: should a request ever reach a tool past
// the HTTP check, the tool refuses a token without patient.read.
func TestToolsCheckScopeThemselves(t *testing.T) {
	t.Parallel()
	s := &Server{}
	for _, tt := range []struct {
		scopes []string
		ok     bool
	}{
		{[]string{"patient.read"}, true},
		{[]string{"appointments", "patient.read"}, true},
		{nil, false},
		{[]string{"patient.readx", "Patient.Read"}, false},
	} {
		req := &mcp.CallToolRequest{Params: &mcp.CallToolParamsRaw{Name: "whoami"}, Extra: &mcp.RequestExtra{TokenInfo: &auth.TokenInfo{Scopes: tt.scopes, UserID: "p"}}}
		_, _, err := s.whoami(t.Context(), req, struct{}{})
		if (err == nil) != tt.ok {
			t.Errorf("whoami with %q: err = %v", tt.scopes, err)
		}
	}
}

// FuzzCalls: the JSON-RPC reader of the scope check never panics, and
// finds every tools/call it is given, alone or in a batch.
func FuzzCalls(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}`,
		`[{"method":"ping"},{"method":"tools/call","params":{"name":"next_appointment"}}]`,
		`[1,{"method":"tools/call","params":{"name":"whoami"}}]`,
		` {"method":"tools/call","params":7}`, `[`, ``, `null`,
	} {
		f.Add([]byte(s), "whoami")
	}
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		calls(body)
		if !utf8.ValidString(name) {
			return // json.Marshal would not keep it as it is
		}
		one, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name}})
		if err != nil {
			return
		}
		batch := append(append([]byte(`[{"method":"ping"},`), one...), ']')
		for _, b := range [][]byte{one, batch} {
			found := false
			for _, c := range calls(b) {
				found = found || (c.Method == "tools/call" && c.Params.Name == name)
			}
			if !found {
				t.Fatalf("the tools/call of %q in %s was not found", name, b)
			}
		}
	})
}

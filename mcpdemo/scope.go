package mcpdemo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// ScopePatientRead is the scope the patient tools need.
const ScopePatientRead = "patient.read"

// requiredScope is the scope a tool needs ("" for none).
func requiredScope(tool string) string {
	switch tool {
	case "whoami", "next_appointment":
		return ScopePatientRead
	}
	return ""
}

// hasScope reports whether the verified token carries scope.
func hasScope(ti *auth.TokenInfo, scope string) bool {
	return scope == "" || (ti != nil && slices.Contains(ti.Scopes, scope))
}

// rpcCall is the part of a JSON-RPC request the scope check reads.
type rpcCall struct {
	Method string `json:"method"`
	Params struct {
		Name string `json:"name"`
	} `json:"params"`
}

// requireToolScopes answers a tools/call whose tool needs a scope the token
// lacks with 403 and WWW-Authenticate: Bearer error="insufficient_scope"
// (MCP authorization, "Scope challenge handling"; RFC 6750 §3.1), before
// the MCP server sees it. Everything else, including requests it cannot
// parse (the MCP server answers those), goes through unchanged.
func (s *Server) requireToolScopes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		// The same bound the MCP handler applies, so reading the body
		// here costs no more memory than it would there.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mcp.DefaultMaxRequestBodyBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "unreadable request body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		ti := auth.TokenInfoFromContext(r.Context())
		cs := calls(body)
		if s.tracer != nil && len(cs) == 1 {
			ctx, sp := s.tracer.Start(r.Context(), rpcSpanName(cs[0]), trace.WithAttributes(rpcAttributes(cs[0])...))
			defer sp.End()
			r = r.WithContext(ctx)
		}
		for _, c := range cs {
			if c.Method != "tools/call" {
				continue
			}
			if need := requiredScope(c.Params.Name); !hasScope(ti, need) {
				s.logger.LogAttrs(r.Context(), slog.LevelInfo, "mcpdemo: insufficient scope", slog.String("tool", c.Params.Name))
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(
					"Bearer error=\"insufficient_scope\", scope=%q, resource_metadata=%q, error_description=%q",
					need, s.metadataURL, "this tool needs the "+need+" scope"))
				http.Error(w, "insufficient scope", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// calls returns the requests of a JSON-RPC body: one object, or a batch
// (older protocol versions). Anything else gives none.
func calls(body []byte) []rpcCall {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 {
		return nil
	}
	if body[0] == '[' {
		// Element by element: one malformed element must not hide the
		// others from the check.
		var batch []json.RawMessage
		if json.Unmarshal(body, &batch) != nil {
			return nil
		}
		var out []rpcCall
		for _, m := range batch {
			var c rpcCall
			if json.Unmarshal(m, &c) == nil {
				out = append(out, c)
			}
		}
		return out
	}
	var one rpcCall
	if json.Unmarshal(body, &one) != nil {
		return nil
	}
	return []rpcCall{one}
}

// rpcSpanName names an MCP request's span as the semantic conventions do,
// "{method} {tool}" ("tools/call whoami"), from fixed sets: the method and
// tool come from the client.
func rpcSpanName(c rpcCall) string {
	m := rpcMethod(c)
	if m == "tools/call" {
		return m + " " + toolName(c)
	}
	return m
}

func rpcAttributes(c rpcCall) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String("mcp.method.name", rpcMethod(c))}
	if rpcMethod(c) == "tools/call" {
		attrs = append(attrs, attribute.String("gen_ai.tool.name", toolName(c)))
	}
	return attrs
}

// rpcMethod is the request's MCP method if it is one this server knows.
func rpcMethod(c rpcCall) string {
	switch c.Method {
	case "initialize", "notifications/initialized", "server/discover", "ping", "tools/list", "tools/call",
		"resources/list", "resources/read", "resources/templates/list", "resources/subscribe", "resources/unsubscribe",
		"prompts/list", "prompts/get", "completion/complete", "logging/setLevel", "subscriptions/listen",
		"notifications/cancelled", "notifications/progress", "notifications/roots/list_changed":
		return c.Method
	}
	return "other"
}

// toolName is the tool's name if it is one of this server's tools.
func toolName(c rpcCall) string {
	switch c.Params.Name {
	case "whoami", "next_appointment":
		return c.Params.Name
	}
	return "other"
}

//go:build tools

// This file pins the project's dependencies in go.mod while the packages
// that use them are being written. It is never built.
package tools

import (
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/gorilla/websocket"
	_ "github.com/modelcontextprotocol/go-sdk/mcp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/twilio/twilio-go/client"
	_ "github.com/twilio/twilio-go/rest/api/v2010"
	_ "github.com/twilio/twilio-go/twiml"
	_ "go.uber.org/goleak"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/oauth2"
)

package tracing_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ivr-gateway/ivr/internal/tracing"
	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
	"github.com/ivr-gateway/ivr/internal/tracing/otlptest"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		enabled      bool
		endpoint     string
		protocol     string
		sampler      string
		wantErr      string // a variable named in the error
		notInMessage string
	}{
		{name: "nothing set: off", env: nil},
		{name: "empty endpoint counts as unset", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": " "}},
		{name: "generic endpoint gets the signal path", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			enabled: true, endpoint: "http://collector:4318/v1/traces", protocol: "http/protobuf", sampler: "parentbased_always_on"},
		{name: "generic endpoint with a path prefix", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example/ingest"},
			enabled: true, endpoint: "https://otel.example/ingest/v1/traces", protocol: "http/protobuf", sampler: "parentbased_always_on"},
		{name: "traces endpoint as it is, and first", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/custom"},
			enabled: true, endpoint: "http://b:4318/custom", protocol: "http/protobuf", sampler: "parentbased_always_on"},
		{name: "grpc takes the generic endpoint as the target", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			enabled: true, endpoint: "http://collector:4317", protocol: "grpc", sampler: "parentbased_always_on"},
		{name: "traces protocol wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
			enabled: true, endpoint: "http://c:4317", protocol: "grpc", sampler: "parentbased_always_on"},
		{name: "ratio sampler", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
			"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
			enabled: true, endpoint: "http://c:4318/v1/traces", protocol: "http/protobuf", sampler: "parentbased_traceidratio(0.25)"},
		{name: "sdk disabled", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}},
		{name: "exporter none", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{name: "exporter zipkin", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "zipkin"},
			wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "http/json is not spoken", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "endpoint without scheme, value not repeated", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "user:s3cret@collector:4318"},
			wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT", notInMessage: "s3cret"},
		{name: "unknown sampler", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "jaeger_remote"},
			wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "ratio out of range", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
			wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "bad resource attributes", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_RESOURCE_ATTRIBUTES": "a=1,novalue"},
			wantErr: "OTEL_RESOURCE_ATTRIBUTES entry 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tracing.Load(envOf(tt.env))
			if tt.wantErr != "" {
				if !errors.Is(err, tracing.ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrConfig naming %s", err, tt.wantErr)
				}
				if tt.notInMessage != "" && strings.Contains(err.Error(), tt.notInMessage) {
					t.Errorf("error %q repeats the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Enabled != tt.enabled {
				t.Fatalf("Enabled = %v, want %v", s.Enabled, tt.enabled)
			}
			if !tt.enabled {
				return
			}
			if s.Endpoint != tt.endpoint || s.Protocol != tt.protocol || s.Sampler != tt.sampler {
				t.Errorf("got %q %q %q, want %q %q %q", s.Endpoint, s.Protocol, s.Sampler, tt.endpoint, tt.protocol, tt.sampler)
			}
		})
	}
}

func TestParseResourceAttributes(t *testing.T) {
	got, err := tracing.ParseResourceAttributes(" deployment.environment=staging , team=voice%20ops,empty=,,")
	if err != nil {
		t.Fatal(err)
	}
	want := []attribute.KeyValue{attribute.String("deployment.environment", "staging"),
		attribute.String("team", "voice ops"), attribute.String("empty", "")}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attribute %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"=v", "k", "k=%zz", "%zz=v"} {
		if _, err := tracing.ParseResourceAttributes(bad); !errors.Is(err, tracing.ErrConfig) {
			t.Errorf("%q: err = %v, want ErrConfig", bad, err)
		}
	}
}

func FuzzParseResourceAttributes(f *testing.F) {
	for _, s := range []string{"", "a=b", "a=b,c=d", "k=%20v", "=", ",,", "a=b=c", "%zz=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kvs, err := tracing.ParseResourceAttributes(s)
		if err != nil {
			if !errors.Is(err, tracing.ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		for _, kv := range kvs {
			if kv.Key == "" {
				t.Fatalf("empty key from %q", s)
			}
		}
	})
}

// TestOffStartsNothing: with no endpoint, Setup starts no exporter and no
// goroutine, hands out nil providers, and flushing is a no-op.
func TestOffStartsNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	tr, err := tracing.Setup(context.Background(), envOf(map[string]string{"OTEL_SERVICE_NAME": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() || tr.String() != "off" {
		t.Errorf("Enabled = %v, String = %q; want off", tr.Enabled(), tr.String())
	}
	if tp := tr.Provider("ivr-gateway"); tp != nil {
		t.Errorf("Provider = %T, want nil", tp)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines: %d before Setup, %d after", before, after)
	}
	var none *tracing.Tracing
	if none.Enabled() || none.Provider("x") != nil || none.Shutdown(context.Background()) != nil {
		t.Error("a nil *Tracing is not off")
	}
}

// TestExport: a span of a call reaches a real OTLP receiver over both
// protocols, in the call's trace, with the service name and resource the
// variables give, once Shutdown flushes.
func TestExport(t *testing.T) {
	for _, tc := range []struct {
		protocol string
		start    func(testing.TB) *otlptest.Receiver
	}{{"http/protobuf", otlptest.Start}, {"grpc", otlptest.StartGRPC}} {
		t.Run(tc.protocol, func(t *testing.T) {
			rcv := tc.start(t)
			tr, err := tracing.Setup(context.Background(), envOf(map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL, "OTEL_EXPORTER_OTLP_PROTOCOL": tc.protocol,
				"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,service.name=from-attributes",
			}))
			if err != nil {
				t.Fatal(err)
			}
			if !tr.Enabled() {
				t.Fatal("tracing is off")
			}
			const sid = "CA0123456789abcdef0123456789abcdef"
			tracer := tr.Provider("ivr-gateway").Tracer("test")
			ctx, root := calltrace.Start(context.Background(), tracer, sid, "dialog.step")
			_, child := tracer.Start(ctx, "child")
			child.End()
			root.End()
			// A second service of the same process shares the exporter.
			_, other := tr.Provider("ivr-authserver").Tracer("test").Start(context.Background(), "plain")
			other.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tr.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			spans := rcv.Spans()
			if len(spans) != 3 {
				t.Fatalf("received %d spans, want 3: %+v (receiver errors %v)", len(spans), spans, rcv.Errors())
			}
			byName := map[string]otlptest.Span{}
			for _, s := range spans {
				byName[s.Name] = s
			}
			step, ch, plain := byName["dialog.step"], byName["child"], byName["plain"]
			if want := calltrace.TraceID(sid).String(); step.TraceID != want || ch.TraceID != want {
				t.Errorf("trace IDs %s and %s, want the call's %s", step.TraceID, ch.TraceID, want)
			}
			if ch.ParentSpanID != step.SpanID || step.ParentSpanID != "" {
				t.Errorf("parents: step %q, child %q (step is %s)", step.ParentSpanID, ch.ParentSpanID, step.SpanID)
			}
			if step.Attributes["ivr.call_sid"] != sid {
				t.Errorf("step attributes %v lack the call SID", step.Attributes)
			}
			if plain.TraceID == step.TraceID {
				t.Error("a span outside any call joined the call's trace")
			}
			// service.name from OTEL_RESOURCE_ATTRIBUTES wins over the
			// default; each part keeps its component.
			if step.Service != "from-attributes" || step.Component != "ivr-gateway" || plain.Component != "ivr-authserver" ||
				step.Resource["deployment.environment"] != "test" || step.Resource["telemetry.sdk.language"] != "go" {
				t.Errorf("resources: %v / %v", step.Resource, plain.Resource)
			}
		})
	}
}

// TestServiceNameOrder: OTEL_SERVICE_NAME wins over everything; without
// either variable each part is named by its component.
func TestServiceNameOrder(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "ivr-mcp"},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=attr"}, "attr"},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=attr", "OTEL_SERVICE_NAME": "named"}, "named"},
	} {
		rcv := otlptest.Start(t)
		tc.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = rcv.URL
		tr, err := tracing.Setup(context.Background(), envOf(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		_, sp := tr.Provider("ivr-mcp").Tracer("test").Start(context.Background(), "s")
		sp.End()
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if spans := rcv.Spans(); len(spans) != 1 || spans[0].Service != tc.want {
			t.Errorf("%v: spans %+v, want service %q", tc.env, spans, tc.want)
		}
	}
}

// TestSampler: a ratio of 0 keeps nothing, and a call is sampled whole: its
// trace ID, not the span, decides.
func TestSampler(t *testing.T) {
	rcv := otlptest.Start(t)
	tr, err := tracing.Setup(context.Background(), envOf(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL, "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}))
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.Provider("ivr-gateway").Tracer("test")
	kept := map[bool]int{}
	for i := range 40 {
		sid := "CA" + strings.Repeat("0", 30) + string(rune('a'+i%6)) + string(rune('0'+i/6))
		var decisions []bool
		for range 3 { // three webhooks of the call
			_, sp := calltrace.Start(context.Background(), tracer, sid, "POST /twilio/gather")
			decisions = append(decisions, sp.SpanContext().IsSampled())
			sp.End()
		}
		if decisions[0] != decisions[1] || decisions[1] != decisions[2] {
			t.Fatalf("call %s sampled in part: %v", sid, decisions)
		}
		kept[decisions[0]]++
	}
	if kept[true] == 0 || kept[false] == 0 {
		t.Errorf("ratio 0.5 over 40 calls kept %d and dropped %d", kept[true], kept[false])
	}
	tr.Shutdown(context.Background())
	if got := len(rcv.Spans()); got != 3*kept[true] {
		t.Errorf("exported %d spans, want %d", got, 3*kept[true])
	}
}

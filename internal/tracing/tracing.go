// Package tracing sets up OpenTelemetry tracing from the standard OTEL_*
// variables and instruments the project's HTTP servers, HTTP clients and
// Redis clients with it.
//
// Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (an empty value counts as
// unset). Off costs nothing: Setup starts no exporter and no goroutine, every
// Provider is nil, and every wrapper here returns what it was given.
//
// What is traced never carries personal data: span names are routes and
// command names from fixed sets, server spans record the path (never the
// query, a header or a body), client spans the URL the project built (no
// answers travel in a URL), Redis spans the command name only (no
// statement), and no form value, token or auth_session is ever an
// attribute. The tests export real calls and scan every span for the test
// identities.
package tracing

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr/internal/tracing/calltrace"
)

// Protocols of OTEL_EXPORTER_OTLP_PROTOCOL this package speaks.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// ErrConfig is wrapped by every error Load and Setup return for a variable
// that cannot work; the message names the variable and never its value
// when that value could hold a credential.
var ErrConfig = errors.New("tracing")

// Settings is what the OTEL_* variables say.
type Settings struct {
	// Enabled is false when no endpoint is set, OTEL_SDK_DISABLED is true
	// or OTEL_TRACES_EXPORTER is none.
	Enabled bool
	// Endpoint is the URL spans are sent to: for http/protobuf the full
	// URL (OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces", or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is), for grpc the target.
	Endpoint string
	// Protocol is ProtocolHTTP (the default) or ProtocolGRPC.
	Protocol string
	// ServiceName is OTEL_SERVICE_NAME; "" leaves each Provider its own.
	ServiceName string
	// Sampler is OTEL_TRACES_SAMPLER with its argument, as given (for the
	// start-up log); default parentbased_always_on.
	Sampler string
	// Resource are the OTEL_RESOURCE_ATTRIBUTES.
	Resource []attribute.KeyValue

	sampler sdktrace.Sampler
}

// Load reads the OTEL_* variables through getenv. It returns an error
// wrapping ErrConfig for a value that cannot work (an endpoint that is not
// an http(s) URL, an unknown protocol, sampler or exporter, a sampler
// argument outside [0, 1], malformed resource attributes).
func Load(getenv func(string) string) (Settings, error) {
	s := Settings{Protocol: ProtocolHTTP, ServiceName: strings.TrimSpace(getenv("OTEL_SERVICE_NAME"))}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return s, nil
	}
	switch e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e {
	case "", "otlp":
	case "none":
		return s, nil
	default:
		return s, fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%q: only otlp (or none) is supported", ErrConfig, e)
	}
	if p := cmpOr(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL")); p != "" {
		switch p {
		case ProtocolHTTP, ProtocolGRPC:
			s.Protocol = p
		default:
			return s, fmt.Errorf("%w: OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf or grpc", ErrConfig, p)
		}
	}
	name, raw := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	if raw == "" {
		name, raw = "OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	}
	if raw == "" {
		return s, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The value is not repeated: a URL may carry credentials.
		return s, fmt.Errorf("%w: %s is not an http(s) URL", ErrConfig, name)
	}
	s.Endpoint = raw
	if name == "OTEL_EXPORTER_OTLP_ENDPOINT" && s.Protocol == ProtocolHTTP {
		// The generic variable is a base URL: the signal's path is added
		// (OTLP exporter specification).
		s.Endpoint = strings.TrimRight(raw, "/") + "/v1/traces"
	}
	if s.sampler, s.Sampler, err = loadSampler(getenv); err != nil {
		return s, err
	}
	if s.Resource, err = ParseResourceAttributes(getenv("OTEL_RESOURCE_ATTRIBUTES")); err != nil {
		return s, err
	}
	s.Enabled = true
	return s, nil
}

func cmpOr(a, b string) string {
	if a = strings.TrimSpace(a); a != "" {
		return a
	}
	return strings.TrimSpace(b)
}

// loadSampler reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
func loadSampler(getenv func(string) string) (sdktrace.Sampler, string, error) {
	name := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER"))
	arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG"))
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("%w: OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", ErrConfig, arg)
		}
		return r, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), "parentbased_always_on", nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), name, nil
	case "always_on":
		return sdktrace.AlwaysSample(), name, nil
	case "always_off":
		return sdktrace.NeverSample(), name, nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, "", err
		}
		s := sdktrace.TraceIDRatioBased(r)
		if name == "parentbased_traceidratio" {
			s = sdktrace.ParentBased(s)
		}
		return s, name + "(" + strconv.FormatFloat(r, 'g', -1, 64) + ")", nil
	}
	return nil, "", fmt.Errorf("%w: OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio or their parentbased_ forms", ErrConfig, name)
}

// ParseResourceAttributes reads OTEL_RESOURCE_ATTRIBUTES:
// "key1=value1,key2=value2", keys and values percent-encoded as in W3C
// Baggage. A malformed list is an error wrapping ErrConfig (the
// specification discards the whole value; we refuse to start instead, as
// for every configuration that cannot be what was meant).
func ParseResourceAttributes(s string) ([]attribute.KeyValue, error) {
	var out []attribute.KeyValue
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, kerr := url.PathUnescape(strings.TrimSpace(k))
		v, verr := url.PathUnescape(strings.TrimSpace(v))
		if !ok || k == "" || kerr != nil || verr != nil {
			return nil, fmt.Errorf("%w: OTEL_RESOURCE_ATTRIBUTES entry %d is not key=value", ErrConfig, i+1)
		}
		out = append(out, attribute.String(k, v))
	}
	return out, nil
}

// Tracing is the process's tracing: one exporter and batch processor, and a
// TracerProvider per service the process runs (`ivr demo` runs three).
// The zero value and a nil *Tracing are off.
type Tracing struct {
	settings  Settings
	processor sdktrace.SpanProcessor

	mu        sync.Mutex
	providers map[string]*sdktrace.TracerProvider
}

// Setup reads the OTEL_* variables through getenv and, when they ask for
// tracing, creates the OTLP exporter (http/protobuf or grpc) and its batch
// processor. With no endpoint set it returns a Tracing that is off and has
// started nothing. Errors wrap ErrConfig (see Load) or come from the
// exporter's construction.
func Setup(ctx context.Context, getenv func(string) string) (*Tracing, error) {
	s, err := Load(getenv)
	if err != nil || !s.Enabled {
		return &Tracing{settings: s}, err
	}
	var exp sdktrace.SpanExporter
	switch s.Protocol {
	case ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(s.Endpoint))
	default:
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(s.Endpoint))
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	return New(s, sdktrace.NewBatchSpanProcessor(exp)), nil
}

// New returns the tracing of settings s exporting through processor (tests
// pass a synchronous one). s must be Enabled.
func New(s Settings, processor sdktrace.SpanProcessor) *Tracing {
	if s.sampler == nil {
		s.sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
		s.Sampler = "parentbased_always_on"
	}
	s.Enabled = true
	return &Tracing{settings: s, processor: processor, providers: map[string]*sdktrace.TracerProvider{}}
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t != nil && t.processor != nil }

// Settings returns what the variables said.
func (t *Tracing) Settings() Settings {
	if t == nil {
		return Settings{}
	}
	return t.settings
}

// String describes the set-up for the start-up log: protocol, endpoint
// without user info or query, sampler.
func (t *Tracing) String() string {
	if !t.Enabled() {
		return "off"
	}
	ep := t.settings.Endpoint
	if u, err := url.Parse(ep); err == nil {
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		ep = u.String()
	}
	return fmt.Sprintf("otlp %s %s, sampler %s", t.settings.Protocol, ep, t.settings.Sampler)
}

// Provider returns the TracerProvider of a service of this process, or nil
// when tracing is off (every wrapper of this package, and every package of
// the project, reads nil as "no spans"). The service name is
// OTEL_SERVICE_NAME when set, else service; the resource also carries
// ivr.component=service, so the parts of `ivr demo` stay apart either way,
// and the OTEL_RESOURCE_ATTRIBUTES.
func (t *Tracing) Provider(service string) trace.TracerProvider {
	if !t.Enabled() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tp, ok := t.providers[service]; ok {
		return tp
	}
	// Specification order: OTEL_SERVICE_NAME wins over a service.name in
	// OTEL_RESOURCE_ATTRIBUTES, which wins over the default (the last of
	// equal keys counts).
	attrs := slices.Clone(t.settings.Resource)
	if !slices.ContainsFunc(attrs, func(kv attribute.KeyValue) bool { return kv.Key == "service.name" }) {
		attrs = append([]attribute.KeyValue{attribute.String("service.name", service)}, attrs...)
	}
	if t.settings.ServiceName != "" {
		attrs = append(attrs, attribute.String("service.name", t.settings.ServiceName))
	}
	attrs = append(attrs, attribute.String("ivr.component", service))
	// resource.Default would read OTEL_RESOURCE_ATTRIBUTES from the process
	// environment behind getenv's back.
	res, err := resource.New(context.Background(), resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil {
		res = resource.NewSchemaless(attrs...)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(t.settings.sampler),
		sdktrace.WithIDGenerator(callIDs{}),
		sdktrace.WithSpanProcessor(t.processor),
	)
	t.providers[service] = tp
	return tp
}

// Shutdown exports what is still buffered and stops the exporter, within
// ctx. Spans ended after it are dropped. It is safe on a Tracing that is
// off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, tp := range t.providers {
		errs = append(errs, tp.Shutdown(ctx))
	}
	// The processor is shared: shut it down even when no provider was
	// asked for (its Shutdown runs once).
	errs = append(errs, t.processor.Shutdown(ctx))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tracing: flush: %w", err)
	}
	return nil
}

// callIDs is the SDK's ID generator with one difference: a root span
// started under calltrace.With gets the call's trace ID.
type callIDs struct{}

func (callIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if tid, ok := calltrace.From(ctx); ok && tid.IsValid() {
		return tid, newSpanID()
	}
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid, newSpanID()
}

func (callIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return newSpanID() }

func newSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}

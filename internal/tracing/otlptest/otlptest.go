// Package otlptest is an OTLP trace receiver for tests: a real server on
// loopback that accepts POST /v1/traces in protobuf (gzip or not), or the
// gRPC TraceService, as a collector does, and keeps the spans for the test
// to read. It stands in for the collector, a party the tests cannot run.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// maxBody bounds one export request (the SDK's batches are far smaller).
const maxBody = 32 << 20

// Span is one received span, flattened.
type Span struct {
	// Service is the resource's service.name, Component its ivr.component.
	Service, Component string
	Resource           map[string]string
	Scope              string
	Name               string
	Kind               string // "server", "client", "internal", ...
	TraceID, SpanID    string // hex
	ParentSpanID       string // hex; "" for a root
	Attributes         map[string]string
	Events             []Event
	Links              []Link
	StatusCode         string // "unset", "ok", "error"
	StatusMessage      string
	Start, End         time.Time
}

// Event is a span event.
type Event struct {
	Name       string
	Attributes map[string]string
}

// Link is a span link.
type Link struct {
	TraceID, SpanID string
	Attributes      map[string]string
}

// Texts returns every string the span exported: its name, scope, every
// attribute key and value (its own, its events', its links', its
// resource's) and its status message. A privacy test scans them.
func (s Span) Texts() []string {
	out := []string{s.Name, s.Scope, s.StatusMessage}
	add := func(m map[string]string) {
		for k, v := range m {
			out = append(out, k, v)
		}
	}
	add(s.Attributes)
	add(s.Resource)
	for _, e := range s.Events {
		out = append(out, e.Name)
		add(e.Attributes)
	}
	for _, l := range s.Links {
		add(l.Attributes)
	}
	return out
}

// Receiver is a running OTLP/HTTP receiver.
type Receiver struct {
	// URL is the base URL, for OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string

	srv    *httptest.Server
	mu     sync.Mutex
	spans  []Span
	errs   []error
	notify chan struct{}
}

// Start starts a receiver; it stops when the test ends.
func Start(t testing.TB) *Receiver {
	r := &Receiver{notify: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	t.Cleanup(r.srv.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		http.NotFound(w, req)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		r.fail(fmt.Errorf("content type %q", ct))
		http.Error(w, "want application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, req.Body, maxBody)
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			r.fail(err)
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		r.fail(err)
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &msg); err != nil {
		r.fail(err)
		http.Error(w, "bad protobuf", http.StatusBadRequest)
		return
	}
	r.add(Flatten(&msg))
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (r *Receiver) add(spans []Span) {
	r.mu.Lock()
	r.spans = append(r.spans, spans...)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// StartGRPC starts a receiver of the OTLP gRPC TraceService (plaintext);
// its URL is http://127.0.0.1:PORT. It stops when the test ends.
func StartGRPC(t testing.TB) *Receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{URL: "http://" + ln.Addr().String(), notify: make(chan struct{}, 1)}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, grpcService{r: r})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return r
}

type grpcService struct {
	coltracepb.UnimplementedTraceServiceServer
	r *Receiver
}

func (g grpcService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.r.add(Flatten(req))
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (r *Receiver) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// Errors returns what the receiver could not accept (a wrong content type,
// a body that is not an export request).
func (r *Receiver) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// WaitFor waits until done holds for the spans received, or ctx ends; it
// returns the spans either way.
func (r *Receiver) WaitFor(ctx context.Context, done func([]Span) bool) ([]Span, error) {
	for {
		spans := r.Spans()
		if done(spans) {
			return spans, nil
		}
		select {
		case <-ctx.Done():
			return spans, ctx.Err()
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Flatten turns an export request into spans.
func Flatten(msg *coltracepb.ExportTraceServiceRequest) []Span {
	var out []Span
	for _, rs := range msg.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				s := Span{
					Service: res["service.name"], Component: res["ivr.component"], Resource: res,
					Scope: ss.GetScope().GetName(), Name: sp.GetName(), Kind: kind(sp.GetKind()),
					TraceID: hex.EncodeToString(sp.GetTraceId()), SpanID: hex.EncodeToString(sp.GetSpanId()),
					ParentSpanID: hex.EncodeToString(sp.GetParentSpanId()), Attributes: attrs(sp.GetAttributes()),
					StatusCode: status(sp.GetStatus().GetCode()), StatusMessage: sp.GetStatus().GetMessage(),
					Start: time.Unix(0, int64(sp.GetStartTimeUnixNano())), End: time.Unix(0, int64(sp.GetEndTimeUnixNano())),
				}
				for _, e := range sp.GetEvents() {
					s.Events = append(s.Events, Event{Name: e.GetName(), Attributes: attrs(e.GetAttributes())})
				}
				for _, l := range sp.GetLinks() {
					s.Links = append(s.Links, Link{TraceID: hex.EncodeToString(l.GetTraceId()),
						SpanID: hex.EncodeToString(l.GetSpanId()), Attributes: attrs(l.GetAttributes())})
				}
				out = append(out, s)
			}
		}
	}
	return out
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

// value renders any attribute value as text, arrays and maps included, so
// a scan sees everything.
func value(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return string(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		var b bytes.Buffer
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(value(e))
		}
		return b.String()
	case *commonpb.AnyValue_KvlistValue:
		var b bytes.Buffer
		for _, kv := range x.KvlistValue.GetValues() {
			b.WriteString(kv.GetKey() + "=" + value(kv.GetValue()) + ";")
		}
		return b.String()
	}
	return ""
}

func kind(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return "unspecified"
}

func status(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "error"
	}
	return "unset"
}

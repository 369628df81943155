package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// EnvTracesEndpoint is the standard variable for the full URL of the traces
// endpoint; without it, spans go to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces
// (OpenTelemetry specification, "OTLP Exporter Configuration").
const EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"

// exportTimeout bounds one export: the specification's default of 10 s.
const exportTimeout = 10 * time.Second

// jsonExporter posts spans to an OTLP/HTTP collector as JSON (OTLP
// specification, "OTLP/HTTP Request": POST /v1/traces, Content-Type
// application/json, body an ExportTraceServiceRequest in the "JSON Protobuf
// Encoding"). The collector of the AWS Distro for OpenTelemetry Lambda
// layer accepts it on :4318 like the binary form.
//
// It is written here, rather than being the SDK's otlptrace exporter over a
// protobuf client, because the protobuf runtime and the generated OTLP
// packages cost every cold start their package initialisers: measured with
// GODEBUG=inittrace=1 on the Users function, go.opentelemetry.io/proto/otlp
// and google.golang.org/protobuf's internals took about 2.2 ms of a 24.7 ms
// init, for a message of a few fields that encoding/json (linked anyway)
// writes as well.
type jsonExporter struct {
	url    string
	client *http.Client

	mu      sync.Mutex
	stopped bool
}

var _ sdktrace.SpanExporter = (*jsonExporter)(nil)

func newJSONExporter(getenv func(string) string) *jsonExporter {
	url := strings.TrimSpace(getenv(EnvTracesEndpoint))
	if url == "" {
		url = strings.TrimRight(strings.TrimSpace(getenv(EnvEndpoint)), "/") + "/v1/traces"
	}
	if !strings.Contains(url, "://") {
		url = "http://" + url // the collector layer listens on loopback without TLS
	}
	return &jsonExporter{url: url, client: &http.Client{Timeout: exportTimeout}}
}

// ExportSpans sends one ExportTraceServiceRequest holding spans.
func (e *jsonExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	stopped := e.stopped
	e.mu.Unlock()
	if stopped || len(spans) == 0 {
		return nil
	}
	body, err := json.Marshal(exportRequest(spans))
	if err != nil {
		return fmt.Errorf("OTLP export: encode spans: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("OTLP export: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("OTLP export: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("OTLP export to %s: %s", e.url, resp.Status)
	}
	return nil
}

// Shutdown makes later exports do nothing, as the SpanExporter contract asks.
func (e *jsonExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	return nil
}

// The types below are the messages of opentelemetry-proto's
// collector/trace/v1/trace_service.proto, trace/v1/trace.proto and
// common/v1/common.proto in their JSON form: lowerCamelCase field names,
// trace and span ids as hex strings (not base64), enums as integers, 64-bit
// integers as decimal strings, default values omitted.

type otlpRequest struct {
	ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
}

type otlpResourceSpans struct {
	Resource   otlpResource     `json:"resource"`
	ScopeSpans []otlpScopeSpans `json:"scopeSpans"`
	SchemaURL  string           `json:"schemaUrl,omitempty"`
}

type otlpResource struct {
	Attributes []otlpKeyValue `json:"attributes,omitempty"`
}

type otlpScopeSpans struct {
	Scope     otlpScope  `json:"scope"`
	Spans     []otlpSpan `json:"spans"`
	SchemaURL string     `json:"schemaUrl,omitempty"`
}

type otlpScope struct {
	Name       string         `json:"name,omitempty"`
	Version    string         `json:"version,omitempty"`
	Attributes []otlpKeyValue `json:"attributes,omitempty"`
}

type otlpSpan struct {
	TraceID                string         `json:"traceId"`
	SpanID                 string         `json:"spanId"`
	TraceState             string         `json:"traceState,omitempty"`
	ParentSpanID           string         `json:"parentSpanId,omitempty"`
	Flags                  uint32         `json:"flags,omitempty"`
	Name                   string         `json:"name"`
	Kind                   int            `json:"kind,omitempty"`
	StartTimeUnixNano      uint64         `json:"startTimeUnixNano,string"`
	EndTimeUnixNano        uint64         `json:"endTimeUnixNano,string"`
	Attributes             []otlpKeyValue `json:"attributes,omitempty"`
	DroppedAttributesCount uint32         `json:"droppedAttributesCount,omitempty"`
	Events                 []otlpEvent    `json:"events,omitempty"`
	DroppedEventsCount     uint32         `json:"droppedEventsCount,omitempty"`
	Links                  []otlpLink     `json:"links,omitempty"`
	DroppedLinksCount      uint32         `json:"droppedLinksCount,omitempty"`
	Status                 *otlpStatus    `json:"status,omitempty"`
}

type otlpEvent struct {
	TimeUnixNano           uint64         `json:"timeUnixNano,string"`
	Name                   string         `json:"name"`
	Attributes             []otlpKeyValue `json:"attributes,omitempty"`
	DroppedAttributesCount uint32         `json:"droppedAttributesCount,omitempty"`
}

type otlpLink struct {
	TraceID                string         `json:"traceId"`
	SpanID                 string         `json:"spanId"`
	TraceState             string         `json:"traceState,omitempty"`
	Attributes             []otlpKeyValue `json:"attributes,omitempty"`
	DroppedAttributesCount uint32         `json:"droppedAttributesCount,omitempty"`
	Flags                  uint32         `json:"flags,omitempty"`
}

type otlpStatus struct {
	Message string `json:"message,omitempty"`
	Code    int    `json:"code,omitempty"`
}

type otlpKeyValue struct {
	Key   string       `json:"key"`
	Value otlpAnyValue `json:"value"`
}

// otlpAnyValue is AnyValue, whose "oneof value" is one member named after
// the kind: {"stringValue":"x"}, {"intValue":"3"}, {"arrayValue":{"values":[...]}}.
type otlpAnyValue struct {
	v attribute.Value
}

// The span kinds, status codes and flag bits of trace.proto.
const (
	spanKindInternal = 1
	spanKindServer   = 2
	spanKindClient   = 3
	spanKindProducer = 4
	spanKindConsumer = 5

	statusCodeOK    = 1
	statusCodeError = 2

	// SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK and SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK.
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// exportRequest groups spans by resource and then by instrumentation scope,
// as ExportTraceServiceRequest nests them.
func exportRequest(spans []sdktrace.ReadOnlySpan) otlpRequest {
	type scopeKey struct {
		resource attribute.Distinct
		scope    instrumentation.Scope
	}
	resources := map[attribute.Distinct]int{} // index in req.ResourceSpans
	scopes := map[scopeKey]int{}              // index in that ResourceSpans' ScopeSpans
	var req otlpRequest
	for _, s := range spans {
		if s == nil {
			continue
		}
		res := s.Resource()
		rKey := res.Equivalent()
		ri, ok := resources[rKey]
		if !ok {
			ri = len(req.ResourceSpans)
			resources[rKey] = ri
			req.ResourceSpans = append(req.ResourceSpans, otlpResourceSpans{
				Resource:  otlpResource{Attributes: keyValues(res.Attributes())},
				SchemaURL: res.SchemaURL(),
			})
		}
		rs := &req.ResourceSpans[ri]
		scope := s.InstrumentationScope()
		sKey := scopeKey{rKey, scope}
		si, ok := scopes[sKey]
		if !ok {
			si = len(rs.ScopeSpans)
			scopes[sKey] = si
			rs.ScopeSpans = append(rs.ScopeSpans, otlpScopeSpans{
				Scope: otlpScope{
					Name:       scope.Name,
					Version:    scope.Version,
					Attributes: keyValues(scope.Attributes.ToSlice()),
				},
				SchemaURL: scope.SchemaURL,
			})
		}
		rs.ScopeSpans[si].Spans = append(rs.ScopeSpans[si].Spans, spanOf(s))
	}
	return req
}

func spanOf(s sdktrace.ReadOnlySpan) otlpSpan {
	sc := s.SpanContext()
	out := otlpSpan{
		TraceID:                sc.TraceID().String(),
		SpanID:                 sc.SpanID().String(),
		TraceState:             sc.TraceState().String(),
		Flags:                  spanFlags(sc.TraceFlags(), s.Parent()),
		Name:                   s.Name(),
		Kind:                   spanKind(s.SpanKind()),
		StartTimeUnixNano:      unixNano(s.StartTime()),
		EndTimeUnixNano:        unixNano(s.EndTime()),
		Attributes:             keyValues(s.Attributes()),
		DroppedAttributesCount: count(s.DroppedAttributes()),
		DroppedEventsCount:     count(s.DroppedEvents()),
		DroppedLinksCount:      count(s.DroppedLinks()),
	}
	// TraceID.String and SpanID.String are the lowercase hex that OTLP's
	// JSON encoding asks for ids, not the base64 of protobuf's JSON mapping
	// for bytes.
	if parent := s.Parent().SpanID(); parent.IsValid() {
		out.ParentSpanID = parent.String()
	}
	if st := s.Status(); st.Code != codes.Unset || st.Description != "" {
		out.Status = &otlpStatus{Message: st.Description, Code: statusCode(st.Code)}
	}
	for _, ev := range s.Events() {
		out.Events = append(out.Events, otlpEvent{
			TimeUnixNano:           unixNano(ev.Time),
			Name:                   ev.Name,
			Attributes:             keyValues(ev.Attributes),
			DroppedAttributesCount: count(ev.DroppedAttributeCount),
		})
	}
	for _, l := range s.Links() {
		out.Links = append(out.Links, otlpLink{
			TraceID:                l.SpanContext.TraceID().String(),
			SpanID:                 l.SpanContext.SpanID().String(),
			TraceState:             l.SpanContext.TraceState().String(),
			Attributes:             keyValues(l.Attributes),
			DroppedAttributesCount: count(l.DroppedAttributeCount),
			Flags:                  spanFlags(l.SpanContext.TraceFlags(), l.SpanContext),
		})
	}
	return out
}

// spanFlags: the low 8 bits are the W3C trace flags; bits 8 and 9 say
// whether the parent is known to be remote (trace.proto, SpanFlags).
func spanFlags(flags trace.TraceFlags, parent trace.SpanContext) uint32 {
	out := uint32(flags) | flagHasIsRemote
	if parent.IsRemote() {
		out |= flagIsRemote
	}
	return out
}

func spanKind(k trace.SpanKind) int {
	switch k {
	case trace.SpanKindInternal:
		return spanKindInternal
	case trace.SpanKindServer:
		return spanKindServer
	case trace.SpanKindClient:
		return spanKindClient
	case trace.SpanKindProducer:
		return spanKindProducer
	case trace.SpanKindConsumer:
		return spanKindConsumer
	}
	return 0 // SPAN_KIND_UNSPECIFIED
}

func statusCode(c codes.Code) int {
	switch c {
	case codes.Ok:
		return statusCodeOK
	case codes.Error:
		return statusCodeError
	}
	return 0 // STATUS_CODE_UNSET
}

func unixNano(t time.Time) uint64 {
	return uint64(max(0, t.UnixNano())) // before 1970 is no time a span has
}

func count(n int) uint32 {
	return uint32(min(max(n, 0), math.MaxUint32))
}

func keyValues(attrs []attribute.KeyValue) []otlpKeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]otlpKeyValue, len(attrs))
	for i, kv := range attrs {
		out[i] = otlpKeyValue{Key: string(kv.Key), Value: otlpAnyValue{kv.Value}}
	}
	return out
}

// MarshalJSON writes the AnyValue member for the attribute's type.
func (a otlpAnyValue) MarshalJSON() ([]byte, error) {
	return appendAnyValue(nil, a.v)
}

func appendAnyValue(b []byte, v attribute.Value) ([]byte, error) {
	switch v.Type() {
	case attribute.BOOL:
		return append(strconv.AppendBool(append(b, `{"boolValue":`...), v.AsBool()), '}'), nil
	case attribute.INT64:
		b = strconv.AppendInt(append(b, `{"intValue":"`...), v.AsInt64(), 10)
		return append(b, `"}`...), nil
	case attribute.FLOAT64:
		return append(appendDouble(append(b, `{"doubleValue":`...), v.AsFloat64()), '}'), nil
	case attribute.STRING:
		return appendMember(b, "stringValue", v.AsString())
	case attribute.BYTESLICE:
		// bytes is base64 in JSON; only trace and span ids are hex.
		return appendMember(b, "bytesValue", v.AsByteSlice())
	case attribute.BOOLSLICE:
		return appendArray(b, toValues(v.AsBoolSlice(), attribute.BoolValue))
	case attribute.INT64SLICE:
		return appendArray(b, toValues(v.AsInt64Slice(), attribute.Int64Value))
	case attribute.FLOAT64SLICE:
		return appendArray(b, toValues(v.AsFloat64Slice(), attribute.Float64Value))
	case attribute.STRINGSLICE:
		return appendArray(b, toValues(v.AsStringSlice(), attribute.StringValue))
	case attribute.SLICE:
		return appendArray(b, v.AsSlice())
	case attribute.MAP:
		return appendMember(b, "kvlistValue", struct {
			Values []otlpKeyValue `json:"values"`
		}{keyValues(v.AsMap())})
	}
	return append(b, "{}"...), nil // EMPTY: an AnyValue with no member
}

func appendArray(b []byte, values []attribute.Value) ([]byte, error) {
	b = append(b, `{"arrayValue":{"values":[`...)
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendAnyValue(b, v); err != nil {
			return nil, err
		}
	}
	return append(b, "]}}"...), nil
}

// appendDouble writes a double as protobuf's JSON mapping does: a number,
// or the strings "NaN", "Infinity" and "-Infinity", which JSON numbers
// cannot express.
func appendDouble(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendMember appends the object {"name": v}.
func appendMember(b []byte, name string, v any) ([]byte, error) {
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b = append(append(append(b, `{"`...), name...), `":`...)
	return append(append(b, enc...), '}'), nil
}

func toValues[T any](in []T, conv func(T) attribute.Value) []attribute.Value {
	out := make([]attribute.Value, len(in))
	for i, x := range in {
		out[i] = conv(x)
	}
	return out
}

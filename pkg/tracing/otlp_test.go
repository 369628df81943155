package tracing

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// DecodeExportRequest is decodeExportRequest for the tests of package
// tracing_test.
var DecodeExportRequest = decodeExportRequest

// decodeExportRequest checks body against the OTLP specification's "JSON
// Protobuf Encoding" and decodes it with the generated types of
// opentelemetry-proto. protojson alone would accept what OTLP forbids (ids
// in base64, snake_case keys, enums by name, 64-bit integers as numbers),
// so those rules are checked on the raw JSON first; the hex ids are then
// turned into protobuf JSON's base64 for protojson.
func decodeExportRequest(body []byte) ([]*tracepb.ResourceSpans, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if len(top) != 1 || top["resourceSpans"] == nil {
		return nil, fmt.Errorf("ExportTraceServiceRequest has members %v, want only resourceSpans", keysOf(top))
	}
	dec := json.NewDecoder(bytes.NewReader(top["resourceSpans"]))
	dec.UseNumber()
	var generic []any
	if err := dec.Decode(&generic); err != nil {
		return nil, fmt.Errorf("resourceSpans: %w", err)
	}
	var out []*tracepb.ResourceSpans
	for i, rs := range generic {
		if err := checkOTLPJSON(fmt.Sprintf("resourceSpans[%d]", i), rs); err != nil {
			return nil, err
		}
		b, err := json.Marshal(rs)
		if err != nil {
			return nil, err
		}
		m := &tracepb.ResourceSpans{}
		if err := protojson.Unmarshal(b, m); err != nil { // unknown members are errors
			return nil, fmt.Errorf("resourceSpans[%d]: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// checkOTLPJSON walks v, rewriting hex ids to base64 in place and failing
// on what OTLP/JSON does not allow.
func checkOTLPJSON(path string, v any) error {
	switch v := v.(type) {
	case []any:
		for i, e := range v {
			if err := checkOTLPJSON(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range v {
			p := path + "." + k
			if strings.Contains(k, "_") {
				return fmt.Errorf("%s: keys are lowerCamelCase", p)
			}
			switch k {
			case "traceId", "spanId", "parentSpanId":
				size := 8
				if k == "traceId" {
					size = 16
				}
				s, _ := e.(string)
				id, err := hex.DecodeString(s)
				if err != nil || len(id) != size || s != strings.ToLower(s) {
					return fmt.Errorf("%s: %v is not a lowercase hex id", p, e)
				}
				v[k] = base64.StdEncoding.EncodeToString(id)
				continue
			case "startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "intValue":
				if _, ok := e.(string); !ok {
					return fmt.Errorf("%s: %v is a 64-bit integer, a decimal string in JSON", p, e)
				}
			case "kind", "code":
				if _, ok := e.(json.Number); !ok {
					return fmt.Errorf("%s: %v: enums are integers", p, e)
				}
			}
			if err := checkOTLPJSON(p, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// encodeAndDecode is what the collector receives from ExportSpans.
func encodeAndDecode(t *testing.T, spans ...tracetest.SpanStub) []*tracepb.ResourceSpans {
	t.Helper()
	body, err := json.Marshal(exportRequest(tracetest.SpanStubs(spans).Snapshots()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeExportRequest(body)
	if err != nil {
		t.Fatalf("%v\nin %s", err, body)
	}
	return got
}

// TestSpanFieldsInOTLPJSON: every field the functions' spans carry, and
// those the SDK may add (events, links, status, dropped counts), reaches
// the collector with its value.
func TestSpanFieldsInOTLPJSON(t *testing.T) {
	traceID, _ := trace.TraceIDFromHex("5759e988bd862e3fe1be46a994272793")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parentID, _ := trace.SpanIDFromHex("53995c3f42cd8ad8")
	start := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	stub := tracetest.SpanStub{
		Name: "DynamoDB.GetItem",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}),
		Parent: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: traceID, SpanID: parentID, TraceFlags: trace.FlagsSampled, Remote: true}),
		SpanKind:   trace.SpanKindClient,
		StartTime:  start,
		EndTime:    start.Add(3 * time.Millisecond),
		Attributes: []attribute.KeyValue{attribute.String("rpc.service", "DynamoDB")},
		Events: []sdktrace.Event{{Name: "retry", Time: start.Add(time.Millisecond),
			Attributes: []attribute.KeyValue{attribute.Int("attempt", 2)}}},
		Links:                []sdktrace.Link{{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: parentID})}},
		Status:               sdktrace.Status{Code: codes.Error, Description: "ConditionalCheckFailedException"},
		DroppedAttributes:    1,
		Resource:             resource.NewSchemaless(attribute.String("service.name", "users")),
		InstrumentationScope: instrumentation.Scope{Name: scopeName, Version: "1.2.3"},
	}
	want := &tracepb.ResourceSpans{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "users"}}}}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: scopeName, Version: "1.2.3"},
			Spans: []*tracepb.Span{{
				TraceId:           traceID[:],
				SpanId:            spanID[:],
				ParentSpanId:      parentID[:],
				Flags:             0x301, // sampled, parent known to be remote, and remote
				Name:              "DynamoDB.GetItem",
				Kind:              tracepb.Span_SPAN_KIND_CLIENT,
				StartTimeUnixNano: uint64(start.UnixNano()),
				EndTimeUnixNano:   uint64(start.Add(3 * time.Millisecond).UnixNano()),
				Attributes: []*commonpb.KeyValue{{Key: "rpc.service",
					Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "DynamoDB"}}}},
				DroppedAttributesCount: 1,
				Events: []*tracepb.Span_Event{{Name: "retry", TimeUnixNano: uint64(start.Add(time.Millisecond).UnixNano()),
					Attributes: []*commonpb.KeyValue{{Key: "attempt", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 2}}}}}},
				Links:  []*tracepb.Span_Link{{TraceId: traceID[:], SpanId: parentID[:], Flags: 0x100}},
				Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "ConditionalCheckFailedException"},
			}},
		}},
	}
	got := encodeAndDecode(t, stub)
	if len(got) != 1 || !proto.Equal(got[0], want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// TestSpansGroupedByScope: spans of one resource and scope share one
// ResourceSpans and one ScopeSpans, as the message nests them.
func TestSpansGroupedByScope(t *testing.T) {
	res := resource.NewSchemaless(attribute.String("service.name", "users"))
	a := tracetest.SpanStub{Name: "a", Resource: res, InstrumentationScope: instrumentation.Scope{Name: "x"}}
	b := tracetest.SpanStub{Name: "b", Resource: res, InstrumentationScope: instrumentation.Scope{Name: "y"}}
	c := tracetest.SpanStub{Name: "c", Resource: res, InstrumentationScope: instrumentation.Scope{Name: "x"}}
	got := encodeAndDecode(t, a, b, c)
	if len(got) != 1 {
		t.Fatalf("%d ResourceSpans, want 1", len(got))
	}
	var names []string
	for _, ss := range got[0].GetScopeSpans() {
		var spans []string
		for _, s := range ss.GetSpans() {
			spans = append(spans, s.GetName())
		}
		names = append(names, ss.GetScope().GetName()+":"+strings.Join(spans, ","))
	}
	if strings.Join(names, " ") != "x:a,c y:b" {
		t.Errorf("scopes %v, want [x:a,c y:b]", names)
	}
}

// TestAttributeValueKinds: each attribute type becomes the AnyValue member
// common.proto gives it.
func TestAttributeValueKinds(t *testing.T) {
	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	i64 := func(i int64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
	}
	dbl := func(f float64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
	}
	boo := func(b bool) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
	}
	arr := func(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
	}
	for _, tc := range []struct {
		attr attribute.KeyValue
		want *commonpb.AnyValue
	}{
		{attribute.String("s", "GetItem \"quoted\" ü"), str("GetItem \"quoted\" ü")},
		{attribute.String("empty", ""), str("")},
		{attribute.Bool("t", true), boo(true)},
		{attribute.Bool("f", false), boo(false)},
		{attribute.Int("status", 200), i64(200)},
		{attribute.Int64("big", math.MaxInt64), i64(math.MaxInt64)}, // exact only as a string
		{attribute.Int64("neg", math.MinInt64), i64(math.MinInt64)},
		{attribute.Float64("ratio", 0.25), dbl(0.25)},
		{attribute.Float64("huge", 1e300), dbl(1e300)},
		{attribute.Float64("inf", math.Inf(1)), dbl(math.Inf(1))},
		{attribute.Float64("-inf", math.Inf(-1)), dbl(math.Inf(-1))},
		{attribute.StringSlice("aws.dynamodb.table_names", []string{"scimgate", "other"}), arr(str("scimgate"), str("other"))},
		{attribute.StringSlice("none", []string{}), arr()},
		{attribute.BoolSlice("bs", []bool{true, false}), arr(boo(true), boo(false))},
		{attribute.Int64Slice("is", []int64{1, -2}), arr(i64(1), i64(-2))},
		{attribute.Float64Slice("fs", []float64{1.5}), arr(dbl(1.5))},
		{attribute.ByteSlice("bytes", []byte{0, 0xff, 'a'}), &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 0xff, 'a'}}}},
		{attribute.Slice("mixed", attribute.StringValue("a"), attribute.IntValue(1)), arr(str("a"), i64(1))},
		{attribute.Map("m", attribute.String("k", "v")), &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
			Values: []*commonpb.KeyValue{{Key: "k", Value: str("v")}}}}}},
	} {
		t.Run(string(tc.attr.Key), func(t *testing.T) {
			got := encodeAndDecode(t, tracetest.SpanStub{Name: "s", Attributes: []attribute.KeyValue{tc.attr}})
			attrs := got[0].GetScopeSpans()[0].GetSpans()[0].GetAttributes()
			if len(attrs) != 1 || attrs[0].GetKey() != string(tc.attr.Key) || !proto.Equal(attrs[0].GetValue(), tc.want) {
				t.Errorf("%s: got %v, want %v", tc.attr.Key, attrs, tc.want)
			}
		})
	}
	t.Run("NaN", func(t *testing.T) { // proto.Equal has NaN unequal to itself
		got := encodeAndDecode(t, tracetest.SpanStub{Name: "s", Attributes: []attribute.KeyValue{attribute.Float64("nan", math.NaN())}})
		if v := got[0].GetScopeSpans()[0].GetSpans()[0].GetAttributes()[0].GetValue(); !math.IsNaN(v.GetDoubleValue()) {
			t.Errorf("got %v, want NaN", v)
		}
	})
}

// TestDecoderRejectsWhatOTLPJSONForbids: the checks above fail on the mapping
// OTLP departs from, so the tests can fail when the encoding is wrong.
func TestDecoderRejectsWhatOTLPJSONForbids(t *testing.T) {
	for name, body := range map[string]string{
		"base64 ids":       `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"V1npiL2GLj/hvkaplCcnkw==","spanId":"APBnqgupArc=","name":"s"}]}]}]}`,
		"snake_case keys":  `{"resourceSpans":[{"scope_spans":[{"spans":[{"traceId":"5759e988bd862e3fe1be46a994272793","spanId":"00f067aa0ba902b7","name":"s"}]}]}]}`,
		"enum names":       `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5759e988bd862e3fe1be46a994272793","spanId":"00f067aa0ba902b7","name":"s","kind":"SPAN_KIND_CLIENT"}]}]}]}`,
		"numeric times":    `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5759e988bd862e3fe1be46a994272793","spanId":"00f067aa0ba902b7","name":"s","startTimeUnixNano":1}]}]}]}`,
		"unknown member":   `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5759e988bd862e3fe1be46a994272793","spanId":"00f067aa0ba902b7","name":"s","duration":"1"}]}]}]}`,
		"not the envelope": `{"resource_spans":[]}`,
	} {
		if _, err := decodeExportRequest([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5759e988bd862e3fe1be46a994272793","spanId":"00f067aa0ba902b7","name":"s","kind":3,"startTimeUnixNano":"1"}]}]}]}`
	if _, err := decodeExportRequest([]byte(ok)); err != nil {
		t.Errorf("a valid request: %v", err)
	}
}

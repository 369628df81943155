package tracing

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// EnvTracesEndpoint is the standard variable for the full URL of the traces
// endpoint; without it, spans go to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces
// (OpenTelemetry specification, "OTLP Exporter Configuration").
const EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"

// exportTimeout bounds one export: the specification's default of 10 s.
const exportTimeout = 10 * time.Second

// otlpClient posts spans to an OTLP/HTTP collector as binary protobuf
// ("OTLP/HTTP Request": POST /v1/traces, Content-Type
// application/x-protobuf, body an ExportTraceServiceRequest).
type otlpClient struct {
	url    string
	client *http.Client
}

func newOTLPClient(getenv func(string) string) *otlpClient {
	url := strings.TrimSpace(getenv(EnvTracesEndpoint))
	if url == "" {
		url = strings.TrimRight(strings.TrimSpace(getenv(EnvEndpoint)), "/") + "/v1/traces"
	}
	if !strings.Contains(url, "://") {
		url = "http://" + url // the collector layer listens on loopback without TLS
	}
	return &otlpClient{url: url, client: &http.Client{Timeout: exportTimeout}}
}

func (c *otlpClient) Start(context.Context) error { return nil }
func (c *otlpClient) Stop(context.Context) error  { return nil }

// UploadTraces sends one ExportTraceServiceRequest. Its only field is
// "repeated ResourceSpans resource_spans = 1", encoded here so that the
// collector's generated package (which carries the gRPC service) is not
// linked.
func (c *otlpClient) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	body, err := exportRequest(spans)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("OTLP export: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("OTLP export: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("OTLP export to %s: %s", c.url, resp.Status)
	}
	return nil
}

func exportRequest(spans []*tracepb.ResourceSpans) ([]byte, error) {
	var body []byte
	for _, rs := range spans {
		b, err := proto.Marshal(rs)
		if err != nil {
			return nil, fmt.Errorf("OTLP export: encode spans: %w", err)
		}
		body = protowire.AppendTag(body, 1, protowire.BytesType)
		body = protowire.AppendBytes(body, b)
	}
	return body, nil
}

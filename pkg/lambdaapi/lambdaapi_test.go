package lambdaapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/scimgate/scimgate/pkg/lambdaapi"
)

// seenRequest is what the handler received, as the golden files show it.
type seenRequest struct {
	Method        string      `json:"method"`
	URL           string      `json:"url"`
	Path          string      `json:"path"`
	EscapedPath   string      `json:"escapedPath"`
	Query         url.Values  `json:"query"`
	Host          string      `json:"host"`
	RemoteAddr    string      `json:"remoteAddr"`
	Header        http.Header `json:"header"`
	Cookies       []string    `json:"cookies"`
	ContentLength int64       `json:"contentLength"`
	Body          string      `json:"body"`
}

// recorder records the request and answers with one of a few response
// shapes chosen by method and last path segment, so that the cases together
// pin every kind of response translation.
func recorder(seen *seenRequest) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		*seen = seenRequest{
			Method: r.Method, URL: r.URL.String(), Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(),
			Query: r.URL.Query(), Host: r.Host, RemoteAddr: r.RemoteAddr, Header: r.Header,
			ContentLength: r.ContentLength, Body: string(body),
		}
		for _, c := range r.Cookies() {
			seen.Cookies = append(seen.Cookies, c.Name+"="+c.Value)
		}
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case path.Base(r.URL.Path) == "binary":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write([]byte{0x00, 0xff, 0xfe, 'S'})
		case path.Base(r.URL.Path) == "cookies":
			w.Header().Add("Set-Cookie", "a=1; Path=/; Secure; HttpOnly")
			w.Header().Add("Set-Cookie", "b=2; Path=/")
			w.Header().Add("Vary", "Accept")
			w.Header().Add("Vary", "Authorization")
			w.Header().Set("Content-Type", "application/scim+json")
			_, _ = w.Write([]byte(`{"cookies":true}`))
		default:
			w.Header().Set("Content-Type", "application/scim+json")
			w.Header().Set("ETag", `W/"3"`)
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"id":"u-1","userName":"jürgen@example.com"}`))
		}
	})
}

// TestTranslationGolden sends each testdata/<case>.event.json through
// Handler and compares what the handler saw and the resulting Lambda response
// with testdata/<case>.golden.json. UPDATE_GOLDEN=1 rewrites the golden files;
// review the diff before committing it.
func TestTranslationGolden(t *testing.T) {
	eventFiles, err := filepath.Glob(filepath.Join("testdata", "*.event.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(eventFiles) == 0 {
		t.Fatal("no testdata/*.event.json")
	}
	for _, eventFile := range eventFiles {
		name := strings.TrimSuffix(filepath.Base(eventFile), ".event.json")
		t.Run(name, func(t *testing.T) {
			var event events.APIGatewayV2HTTPRequest
			readJSON(t, eventFile, &event)
			var seen seenRequest
			resp, err := lambdaapi.Handler(recorder(&seen))(context.Background(), event)
			if err != nil {
				t.Fatalf("Handler: %v", err)
			}
			var out bytes.Buffer
			enc := json.NewEncoder(&out)
			enc.SetEscapeHTML(false) // keep & < > readable in URLs and bodies
			enc.SetIndent("", "  ")
			if err := enc.Encode(struct {
				Request  seenRequest                     `json:"handlerSaw"`
				Response events.APIGatewayV2HTTPResponse `json:"lambdaResponse"`
			}{seen, resp}); err != nil {
				t.Fatal(err)
			}
			got := out.Bytes()
			goldenFile := filepath.Join("testdata", name+".golden.json")
			if os.Getenv("UPDATE_GOLDEN") == "1" {
				if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenFile)
			if err != nil {
				t.Fatalf("%v (UPDATE_GOLDEN=1 go test ./pkg/lambdaapi creates it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("translation of %s differs from %s:\n--- got\n%s\n--- want\n%s", eventFile, goldenFile, got, want)
			}
		})
	}
}

// TestTranslationOfOktaTraffic states the properties the golden files show,
// so that a rewritten golden file cannot silently accept a regression in
// what the SCIM handler relies on.
func TestTranslationOfOktaTraffic(t *testing.T) {
	tests := []struct {
		event string
		check func(t *testing.T, seen seenRequest, resp events.APIGatewayV2HTTPResponse)
	}{
		{"okta-filter-query", func(t *testing.T, seen seenRequest, resp events.APIGatewayV2HTTPResponse) {
			if got := seen.Query.Get("filter"); got != `userName eq "jane.doe@example.com"` {
				t.Errorf("filter = %q", got)
			}
			if got := seen.Header.Get("Authorization"); got != "Bearer scimgate_local-demo-token-0123456789abcdef0123456789" {
				t.Errorf("Authorization = %q", got)
			}
			// baseURL in pkg/httpapi builds meta.location from these two.
			if seen.Host != "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com" || seen.Header.Get("X-Forwarded-Proto") != "https" {
				t.Errorf("Host = %q, X-Forwarded-Proto = %q", seen.Host, seen.Header.Get("X-Forwarded-Proto"))
			}
			if resp.StatusCode != http.StatusOK || resp.Headers["Etag"] != `W/"3"` || resp.IsBase64Encoded {
				t.Errorf("response = %+v", resp)
			}
		}},
		{"query-parameters-only", func(t *testing.T, seen seenRequest, _ events.APIGatewayV2HTTPResponse) {
			if got := seen.Query.Get("filter"); got != `userName eq "o'brien+test@example.com"` {
				t.Errorf("filter = %q", got)
			}
		}},
		{"base64-body", func(t *testing.T, seen seenRequest, _ events.APIGatewayV2HTTPResponse) {
			if !strings.Contains(seen.Body, `"userName": "jürgen@example.com"`) || seen.ContentLength != int64(len(seen.Body)) {
				t.Errorf("body = %q (length %d)", seen.Body, seen.ContentLength)
			}
			if got := seen.Header.Get("Content-Type"); got != "application/scim+json; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
		}},
		{"multi-value-headers", func(t *testing.T, seen seenRequest, _ events.APIGatewayV2HTTPResponse) {
			if got := seen.Header.Values("If-None-Match"); len(got) != 2 || got[0] != `W/"3"` || got[1] != `W/"4"` {
				t.Errorf("If-None-Match = %q", got)
			}
		}},
		{"cookies", func(t *testing.T, seen seenRequest, resp events.APIGatewayV2HTTPResponse) {
			if len(seen.Cookies) != 2 {
				t.Errorf("cookies = %q", seen.Cookies)
			}
			if len(resp.Cookies) != 2 || resp.Headers["Vary"] != "Accept,Authorization" {
				t.Errorf("response cookies = %q, Vary = %q", resp.Cookies, resp.Headers["Vary"])
			}
		}},
		{"escaped-path", func(t *testing.T, seen seenRequest, _ events.APIGatewayV2HTTPResponse) {
			if seen.EscapedPath != "/scim/v2/demo/okta/Users/a%2Fb%20c" {
				t.Errorf("escaped path = %q", seen.EscapedPath)
			}
		}},
		{"binary-response", func(t *testing.T, _ seenRequest, resp events.APIGatewayV2HTTPResponse) {
			if !resp.IsBase64Encoded || resp.Body != "AP/+Uw==" {
				t.Errorf("body = %q, base64 = %v", resp.Body, resp.IsBase64Encoded)
			}
		}},
		{"no-content", func(t *testing.T, _ seenRequest, resp events.APIGatewayV2HTTPResponse) {
			if resp.StatusCode != http.StatusNoContent || resp.Body != "" {
				t.Errorf("response = %+v", resp)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			var event events.APIGatewayV2HTTPRequest
			readJSON(t, filepath.Join("testdata", tt.event+".event.json"), &event)
			var seen seenRequest
			resp, err := lambdaapi.Handler(recorder(&seen))(context.Background(), event)
			if err != nil {
				t.Fatalf("Handler: %v", err)
			}
			tt.check(t, seen, resp)
		})
	}
}

func TestHandlerPassesTheInvocationContext(t *testing.T) {
	deadline, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx := lambdacontext.NewContext(deadline, &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	var got string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lc, ok := lambdacontext.FromContext(r.Context()); ok {
			got = lc.AwsRequestID
		}
		w.WriteHeader(http.StatusNoContent)
	})
	var event events.APIGatewayV2HTTPRequest
	readJSON(t, filepath.Join("testdata", "no-content.event.json"), &event)
	if _, err := lambdaapi.Handler(h)(ctx, event); err != nil {
		t.Fatal(err)
	}
	if got != "req-1" {
		t.Errorf("handler saw Lambda request id %q, want req-1", got)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    lambdaapi.Config
		wantErr []string // substrings of the error; nil = no error
	}{
		{"table only", map[string]string{"SCIMGATE_DYNAMODB_TABLE": "scimgate-Table-1"},
			lambdaapi.Config{Table: "scimgate-Table-1", LogLevel: slog.LevelInfo}, nil},
		{"everything", map[string]string{"SCIMGATE_DYNAMODB_TABLE": "t", "SCIMGATE_TENANT": "acme", "LOG_LEVEL": "DEBUG"},
			lambdaapi.Config{Table: "t", DedicatedTenant: "acme", LogLevel: slog.LevelDebug}, nil},
		{"lower-case level", map[string]string{"SCIMGATE_DYNAMODB_TABLE": "t", "LOG_LEVEL": "warn"},
			lambdaapi.Config{Table: "t", LogLevel: slog.LevelWarn}, nil},
		{"missing table", map[string]string{},
			lambdaapi.Config{}, []string{"SCIMGATE_DYNAMODB_TABLE is not set"}},
		{"blank table", map[string]string{"SCIMGATE_DYNAMODB_TABLE": "  "},
			lambdaapi.Config{}, []string{"SCIMGATE_DYNAMODB_TABLE is not set"}},
		{"every problem at once", map[string]string{"SCIMGATE_TENANT": "Acme_Corp", "LOG_LEVEL": "verbose"},
			lambdaapi.Config{}, []string{"SCIMGATE_DYNAMODB_TABLE is not set", "SCIMGATE_TENANT", `LOG_LEVEL="verbose"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lambdaapi.ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestNewLoggerAddsInvocationIDs(t *testing.T) {
	var buf bytes.Buffer
	logger := lambdaapi.NewLogger(&buf, slog.LevelInfo).With("function", "users")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-7"})
	ctx = context.WithValue(ctx, "x-amzn-trace-id", "Root=1-abc") //nolint:staticcheck // the key aws-lambda-go uses
	logger.InfoContext(ctx, "request", "status", 200)
	logger.DebugContext(ctx, "filtered out")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("want exactly one JSON line, got %q: %v", buf.String(), err)
	}
	if ts, ok := line["timestamp"].(string); !ok {
		t.Errorf("no timestamp in %s", buf.String())
	} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("timestamp %q is not RFC 3339: %v", ts, err)
	}
	if _, ok := line["time"]; ok {
		t.Errorf("slog's time key is still there: %s", buf.String())
	}
	for k, want := range map[string]any{
		"level": "INFO", "msg": "request", "aws_request_id": "req-7", "xray_trace_id": "Root=1-abc", "function": "users", "status": 200.0,
	} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], want, buf.String())
		}
	}
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// TestHandlerDeadline: the request's deadline is the invocation's minus
// DeadlineMargin, so that a 503 can still be sent before Lambda cuts it off.
func TestHandlerDeadline(t *testing.T) {
	var got time.Duration
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := r.Context().Deadline()
		if !ok {
			t.Errorf("the request has no deadline")
		}
		got = time.Until(d)
		w.WriteHeader(http.StatusNoContent)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := lambdaapi.Handler(h)(ctx, events.APIGatewayV2HTTPRequest{RawPath: "/", RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}}}); err != nil {
		t.Fatal(err)
	}
	want := 10*time.Second - lambdaapi.DeadlineMargin
	if got > want || got < want-2*time.Second {
		t.Fatalf("request deadline in %v, want about %v", got, want)
	}
}

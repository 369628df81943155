// Package metrics measures every SCIM request: its route, status, latency,
// the DynamoDB calls and throttles it caused, and the group member changes
// it applied. It gathers them per request (through the request's context)
// and hands one Request record to its sinks when the response is written:
// CloudWatch Embedded Metric Format lines on Lambda (no API call: CloudWatch
// Logs extracts the metrics), Prometheus on the local server
// (pkg/metrics/prom).
//
// It plugs into pkg/httpapi as its Observer, into the DynamoDB client as SDK
// middleware, and around a scim.Store; it imports none of the adapters.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Request is what one SCIM request did.
type Request struct {
	At       time.Time
	Function string // the Lambda function ("users", ...) or "local"
	Route    string // the route pattern, e.g. "GET /{tenant}/{sso}/Users/{id}", or "unmatched"
	Status   int
	Conn     scim.Connection // empty when the path named no valid connection
	Latency  time.Duration
	// DynamoDBCalls and DynamoDBThrottles count per operation (GetItem,
	// TransactWriteItems, ...) every attempt, the SDK's retries included.
	DynamoDBCalls     map[string]int
	DynamoDBThrottles map[string]int
	MemberChanges     int // group members added or removed by a successful write
	// ObservedAttributes are undeclared attributes the request's write
	// carried that its process recorded for the first time (pkg/observed);
	// ObservedDropped those it had no room for.
	ObservedAttributes int
	ObservedDropped    int
	// TraceID is the invocation's X-Ray trace header, when known: it
	// ties the metrics line to the request's log line and trace.
	TraceID string
}

// StatusClass is "2xx", "4xx", ...: a cheap dimension.
func (r Request) StatusClass() string { return StatusClass(r.Status) }

// StatusClass is the class of an HTTP status code.
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// Sink receives one record per request.
type Sink interface {
	Record(Request)
}

// Recorder gathers each request's measurements and passes them to its sinks.
// It satisfies httpapi.Observer.
type Recorder struct {
	function string
	now      func() time.Time
	sinks    []Sink
	traceID  func(context.Context) string
}

// WithTraceID sets how a request's trace id is found in its context.
func (rec *Recorder) WithTraceID(traceID func(context.Context) string) *Recorder {
	rec.traceID = traceID
	return rec
}

// NewRecorder returns a recorder for function's requests.
func NewRecorder(function string, now func() time.Time, sinks ...Sink) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{function: function, now: now, sinks: sinks}
}

// tally collects one request's measurements; the DynamoDB middleware and the
// store wrapper add to it from the request's goroutines.
type tally struct {
	mu                        sync.Mutex
	calls                     map[string]int
	throttles                 map[string]int
	members                   int
	observed, observedDropped int
}

type tallyKey struct{}

func tallyOf(ctx context.Context) *tally {
	t, _ := ctx.Value(tallyKey{}).(*tally)
	return t
}

func (t *tally) addCall(op string, throttled bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.calls == nil {
		t.calls = map[string]int{}
	}
	t.calls[op]++
	if throttled {
		if t.throttles == nil {
			t.throttles = map[string]int{}
		}
		t.throttles[op]++
	}
}

func (t *tally) addMembers(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.members += n
}

// StartRequest gives the request a tally to count into.
func (rec *Recorder) StartRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, tallyKey{}, &tally{})
}

// EndRequest hands the request's record to the sinks.
func (rec *Recorder) EndRequest(ctx context.Context, route string, status int, latency time.Duration, conn scim.Connection) {
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	r := Request{At: rec.now(), Function: rec.function, Route: route, Status: status, Conn: conn, Latency: latency}
	if rec.traceID != nil {
		r.TraceID = rec.traceID(ctx)
	}
	if t := tallyOf(ctx); t != nil {
		t.mu.Lock()
		r.DynamoDBCalls, r.DynamoDBThrottles, r.MemberChanges = t.calls, t.throttles, t.members
		r.ObservedAttributes, r.ObservedDropped = t.observed, t.observedDropped
		t.mu.Unlock()
	}
	for _, s := range rec.sinks {
		s.Record(r)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// CountObserved counts keys of the observed schema (pkg/observed) that the
// request recorded for the first time in its process.
func CountObserved(ctx context.Context, n int) {
	if t := tallyOf(ctx); t != nil {
		t.mu.Lock()
		t.observed += n
		t.mu.Unlock()
	}
}

// CountObservedDropped counts sightings of new observed keys that the
// request's connection had no room left for.
func CountObservedDropped(ctx context.Context, n int) {
	if t := tallyOf(ctx); t != nil {
		t.mu.Lock()
		t.observedDropped += n
		t.mu.Unlock()
	}
}

// Package prom is the local server's metrics sink: the same per-request
// measurements as the Lambda functions' EMF lines, as Prometheus metrics
// served in the text exposition format. It is a package of its own so that
// the Lambda binaries do not link the Prometheus client.
package prom

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scimgate/scimgate/pkg/metrics"
)

// Sink keeps the metrics in a registry of its own (no global state).
type Sink struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	backPressure  *prometheus.CounterVec
	authFailures  prometheus.Counter
	dynamoCalls   *prometheus.CounterVec
	dynamoThrottl *prometheus.CounterVec
	memberChanges prometheus.Counter
	observed      prometheus.Counter
	observedDrop  prometheus.Counter
}

// New returns a sink with every scimgate_ metric registered, plus the Go
// runtime and process collectors.
func New() *Sink {
	s := &Sink{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_requests_total", Help: "SCIM requests by route and status class.",
		}, []string{"route", "status_class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scimgate_request_duration_seconds", Help: "SCIM request latency by route.",
			// From a cached token check to a 100-item transaction on a busy table.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		backPressure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_backpressure_total", Help: "Requests answered 429 (rate limited) or 503 (store unavailable), by status.",
		}, []string{"status"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimgate_auth_failures_total", Help: "Requests answered 401.",
		}),
		dynamoCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_dynamodb_calls_total", Help: "DynamoDB call attempts, retries included, by operation.",
		}, []string{"operation"}),
		dynamoThrottl: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_dynamodb_throttles_total", Help: "DynamoDB call attempts that were throttled, by operation.",
		}, []string{"operation"}),
		memberChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimgate_member_changes_total", Help: "Group members added or removed.",
		}),
		observed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimgate_observed_attributes_total", Help: "Undeclared attributes recorded in the observed schema for the first time.",
		}),
		observedDrop: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimgate_observed_dropped_total", Help: "Sightings of new undeclared attributes a connection's observed schema had no room for.",
		}),
	}
	s.registry.MustRegister(s.requests, s.latency, s.backPressure, s.authFailures, s.dynamoCalls, s.dynamoThrottl, s.memberChanges, s.observed, s.observedDrop,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// Record adds one request.
func (s *Sink) Record(r metrics.Request) {
	s.requests.WithLabelValues(r.Route, r.StatusClass()).Inc()
	s.latency.WithLabelValues(r.Route).Observe(r.Latency.Seconds())
	switch r.Status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		s.backPressure.WithLabelValues(strconv.Itoa(r.Status)).Inc()
	case http.StatusUnauthorized:
		s.authFailures.Inc()
	}
	for op, n := range r.DynamoDBCalls {
		s.dynamoCalls.WithLabelValues(op).Add(float64(n))
	}
	for op, n := range r.DynamoDBThrottles {
		s.dynamoThrottl.WithLabelValues(op).Add(float64(n))
	}
	if r.MemberChanges > 0 {
		s.memberChanges.Add(float64(r.MemberChanges))
	}
	if r.ObservedAttributes > 0 {
		s.observed.Add(float64(r.ObservedAttributes))
	}
	if r.ObservedDropped > 0 {
		s.observedDrop.Add(float64(r.ObservedDropped))
	}
}

// Handler serves the registry in the Prometheus text format.
func (s *Sink) Handler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})
}

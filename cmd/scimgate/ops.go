package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/metrics/prom"
	"github.com/scimgate/scimgate/pkg/ratelimit"
	"github.com/scimgate/scimgate/pkg/scim"
)

// EnvMetricsAddr is the environment default of --metrics-addr.
const EnvMetricsAddr = "SCIMGATE_METRICS_ADDR"

// opsFlags are serve's operational settings: the per-connection rate limit
// and the Prometheus endpoint.
type opsFlags struct {
	rateLimit   string
	rateBurst   string
	metricsAddr string

	sink *prom.Sink // set by prepare when --metrics-addr is given
}

func (f *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.rateLimit, "rate-limit", env(ratelimit.EnvPerSecond, fmt.Sprint(ratelimit.DefaultPerSecond)), `requests per second per SSO connection, or "off"`)
	fs.StringVar(&f.rateBurst, "rate-burst", env(ratelimit.EnvBurst, fmt.Sprint(ratelimit.DefaultBurst)), "requests an SSO connection may send at once")
	fs.StringVar(&f.metricsAddr, "metrics-addr", env(EnvMetricsAddr, ""), "serve Prometheus metrics at /metrics on this address (never on the SCIM address)")
}

// prepare runs after flag parsing: the DynamoDB client then counts its
// calls for the metrics.
func (f *opsFlags) prepare(sf *storeFlags) {
	if f.metricsAddr == "" {
		return
	}
	f.sink = prom.New()
	sf.clientOptions = append(sf.clientOptions, metrics.DynamoDBClientOption())
}

// store wraps the store the service writes through, to count member changes.
func (f *opsFlags) store(s scim.Store) scim.Store {
	if f.sink == nil {
		return s
	}
	return metrics.CountMemberChanges(s)
}

// apply adds the rate limit and the metrics observer to the handler's configuration.
func (f *opsFlags) apply(cfg *httpapi.Config) error {
	limiter, err := ratelimit.FromEnv(func(name string) string {
		switch name {
		case ratelimit.EnvPerSecond:
			return f.rateLimit
		case ratelimit.EnvBurst:
			return f.rateBurst
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("--rate-limit/--rate-burst: %w", err)
	}
	cfg.Admit = limiter.Admit
	if f.sink != nil {
		cfg.Observer = metrics.NewRecorder("local", nil, f.sink)
	}
	return nil
}

// serveMetrics starts the Prometheus endpoint, if asked for, on its own
// listener: /metrics is never reachable through the SCIM base URL. The
// returned function stops it.
func (f *opsFlags) serveMetrics(stdout io.Writer) (stop func(context.Context) error, err error) {
	if f.sink == nil {
		return func(context.Context) error { return nil }, nil
	}
	ln, err := net.Listen("tcp", f.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on --metrics-addr %s: %w", f.metricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", f.sink.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stdout, "metrics endpoint stopped: %v\n", err)
		}
	}()
	fmt.Fprintf(stdout, "scimgate serving Prometheus metrics on http://%s/metrics\n", ln.Addr())
	return srv.Shutdown, nil
}

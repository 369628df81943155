// Package webhooksmain is the whole main of the webhooks function: on each
// scheduled invocation it runs the delivery engine (pkg/webhooks), the same
// code `scimgate serve` runs, against the table until shortly before the
// invocation's deadline, then reports what it delivered. The schedule
// (every minute) and a reserved concurrency of one keep exactly one engine
// running, so each endpoint and connection is delivered in order.
package webhooksmain

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/webhooks"
)

// FunctionName is the Function dimension of the function's metrics.
const FunctionName = "webhooks"

// EnvRunFor bounds one invocation's run (a Go duration); by default it
// runs until deadlineMargin before the invocation's deadline.
const EnvRunFor = "SCIMGATE_WEBHOOK_RUN_FOR"

// deadlineMargin is left before the deadline for the lanes to stop (an
// attempt in flight is cut; it is sent again next run: at least once).
const deadlineMargin = 5 * time.Second

// discoverInterval: endpoints and connections are listed this often (one
// Query each), not at every poll.
const discoverInterval = 10 * time.Second

// Summary is the invocation's result.
type Summary struct {
	Complete bool   `json:"complete"`
	RanFor   string `json:"ran_for"`
}

// Handler serves one scheduled invocation.
type Handler func(ctx context.Context, event json.RawMessage) (Summary, error)

// Run starts the function; a configuration error ends the init phase.
func Run() {
	h, err := New(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scimgate webhooks function cannot start: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// New builds the handler: configuration through getenv, logs and EMF to out.
func New(ctx context.Context, getenv func(string) string, out io.Writer, clientOptions ...func(*dynamodb.Options)) (Handler, error) {
	cfg, err := lambdaapi.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	var runFor time.Duration
	if raw := strings.TrimSpace(getenv(EnvRunFor)); raw != "" {
		if runFor, err = time.ParseDuration(raw); err != nil || runFor <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive Go duration such as 50s", EnvRunFor, raw)
		}
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	store := dynamostore.New(dynamostore.NewClient(awsCfg, clientOptions...), cfg.Table)
	logger := lambdaapi.NewLogger(out, cfg.LogLevel).With("function", FunctionName)
	engine, err := webhooks.NewEngine(webhooks.EngineConfig{
		Store: store, Feed: store, Cursors: store, Logger: logger, DiscoverInterval: discoverInterval,
		Connections: func(ctx context.Context) ([]changes.Conn, error) {
			conns, err := store.ListConnections(ctx, cfg.DedicatedTenant)
			if err != nil {
				return nil, err
			}
			list := make([]changes.Conn, len(conns))
			for i, c := range conns {
				list[i] = changes.Conn{Tenant: c.Conn.Tenant, SSO: c.Conn.SSO}
			}
			return list, nil
		},
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, _ json.RawMessage) (Summary, error) {
		start := time.Now()
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		if deadline, ok := ctx.Deadline(); ok {
			runCtx, cancel = context.WithDeadline(runCtx, deadline.Add(-deadlineMargin))
			defer cancel()
		}
		if runFor > 0 {
			runCtx, cancel = context.WithTimeout(runCtx, runFor)
			defer cancel()
		}
		engine.Run(runCtx)
		ran := time.Since(start)
		props := map[string]string{metrics.DimFunction: FunctionName}
		if trace := lambdaapi.TraceID(ctx); trace != "" {
			props[metrics.PropertyTraceID] = trace
		}
		_ = metrics.WriteEMF(out, time.Now(), props, [][]string{{}},
			[]metrics.Metric{{Name: "WebhookRunSeconds", Unit: "Seconds", Value: ran.Seconds()}})
		logger.InfoContext(ctx, "webhook run done", "ran_for", ran.String())
		return Summary{Complete: ctx.Err() == nil, RanFor: ran.String()}, nil
	}, nil
}

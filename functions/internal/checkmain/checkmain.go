// Package checkmain is the whole main of the scheduled check function: it
// runs the reconciliation check (pkg/reconcile) across every connection of
// the table, page by page, reports each violation as a log line and the
// total as the Drift metric (one EMF line) that an alarm watches. It
// reports only: repairs are for an operator, with scimgate check --repair.
package checkmain

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/reconcile"
)

// EnvPageSize bounds how many connections one listing page holds.
const EnvPageSize = "SCIMGATE_CHECK_PAGE_SIZE"

const defaultPageSize = 100

// FunctionName is the Function dimension of the check's metrics.
const FunctionName = "check"

// deadlineMargin is kept free before the function's deadline to write the
// metric of what was checked.
const deadlineMargin = 10 * time.Second

// Summary is the invocation's result, as the Lambda console shows it.
type Summary struct {
	Connections int  `json:"connections"`
	Violations  int  `json:"violations"`
	Complete    bool `json:"complete"` // false when the deadline cut the run short
}

// Handler runs one check of the whole table.
type Handler func(ctx context.Context, event json.RawMessage) (Summary, error)

// Run starts the function; a configuration error ends the init phase.
func Run() {
	h, err := New(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scimgate check function cannot start: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// New builds the handler: configuration through getenv, logs and EMF to
// out, clientOptions applied to the DynamoDB client.
func New(ctx context.Context, getenv func(string) string, out io.Writer, clientOptions ...func(*dynamodb.Options)) (Handler, error) {
	cfg, err := lambdaapi.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	pageSize := defaultPageSize
	if raw := strings.TrimSpace(getenv(EnvPageSize)); raw != "" {
		if pageSize, err = strconv.Atoi(raw); err != nil || pageSize < 1 {
			return nil, fmt.Errorf("%s=%q: want a positive number of connections", EnvPageSize, raw)
		}
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	store := dynamostore.New(dynamostore.NewClient(awsCfg, clientOptions...), cfg.Table)
	logger := lambdaapi.NewLogger(out, cfg.LogLevel).With("function", FunctionName)
	return func(ctx context.Context, _ json.RawMessage) (Summary, error) {
		return checkAll(ctx, store, pageSize, logger, out)
	}, nil
}

func checkAll(ctx context.Context, ins reconcile.Inspector, pageSize int, logger *slog.Logger, out io.Writer) (Summary, error) {
	var sum Summary
	runCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, deadline.Add(-deadlineMargin))
		defer cancel()
	}
	err := reconcile.CheckAll(runCtx, ins, pageSize, false, func(rep *reconcile.Report) error {
		sum.Connections++
		for _, v := range rep.Violations {
			sum.Violations++
			logger.WarnContext(ctx, "violation", slog.String("tenant", rep.Tenant), slog.String("sso", rep.SSO),
				slog.String("kind", string(v.Kind)), slog.Any("ids", v.IDs), slog.String("detail", v.Detail),
				slog.Bool("repairable", v.Repair != nil))
		}
		return nil
	})
	sum.Complete = err == nil
	// The metric goes out even when the run was cut short: what was found is drift.
	props := map[string]string{metrics.DimFunction: FunctionName}
	if trace := lambdaapi.TraceID(ctx); trace != "" {
		props[metrics.PropertyTraceID] = trace
	}
	_ = metrics.WriteEMF(out, time.Now(), props, [][]string{{}},
		[]metrics.Metric{
			{Name: metrics.MetricDrift, Unit: "Count", Value: float64(sum.Violations)},
			{Name: metrics.MetricConnectionsChecked, Unit: "Count", Value: float64(sum.Connections)},
		})
	logger.InfoContext(ctx, "check done", slog.Int("connections", sum.Connections), slog.Int("violations", sum.Violations), slog.Bool("complete", sum.Complete))
	if err != nil {
		return sum, fmt.Errorf("check after %d connections: %w", sum.Connections, err)
	}
	return sum, nil
}

// Package reconcilemain wires the ReconcileFunction: the drift run
// (pkg/drift) of every linked connection over the table, its readers' secrets
// from Secrets Manager under the deployment's prefix, one EMF line per run.
package reconcilemain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/readers"
	"github.com/scimgate/scimgate/pkg/idp/secrets"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/scim"
)

// EnvSecretPrefix is the ARN prefix of the secrets the function may read
// (the template sets it to the deployment's, as its IAM policy does).
const EnvSecretPrefix = "SCIMGATE_SECRET_ARN_PREFIX"

// FunctionName is the Function dimension of its metrics.
const FunctionName = "reconcile"

// deadlineMargin is left of the invocation for the metrics line.
const deadlineMargin = 30 * time.Second

// Event is a direct invocation for one connection; a scheduled event
// (EventBridge's, with no tenant) runs every linked connection with its policy.
type Event struct {
	Tenant        string `json:"tenant"`
	SSO           string `json:"sso"`
	Repair        bool   `json:"repair"`
	MaxDeactivate int    `json:"max_deactivate"`
}

// Summary is what one invocation returns.
type Summary struct {
	Connections int                `json:"connections"` // linked connections run
	Failed      int                `json:"failed"`      // runs the IdP or the store failed (nothing changed)
	Counts      map[drift.Kind]int `json:"counts"`
	Repaired    map[drift.Kind]int `json:"repaired"`
	Complete    bool               `json:"complete"`
	// Report is the one connection's report, for a direct invocation.
	Report *drift.Report `json:"report,omitempty"`
}

// Handler is the function's handler.
type Handler func(ctx context.Context, event json.RawMessage) (Summary, error)

// Run starts the function.
func Run() {
	h, err := New(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scimgate reconcile function cannot start: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// New builds the handler from the environment. Options adjust the clients
// (tests count the DynamoDB calls).
func New(ctx context.Context, getenv func(string) string, out io.Writer, clientOptions ...func(*dynamodb.Options)) (Handler, error) {
	cfg, err := lambdaapi.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSpace(getenv(EnvSecretPrefix))
	if prefix != "" && !idp.IsSecretARN(prefix) {
		return nil, fmt.Errorf("%s=%q: want a Secrets Manager ARN prefix (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-PREFIX)", EnvSecretPrefix, prefix)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	feedOpts, err := dynamostore.ChangeOptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	store := dynamostore.New(dynamostore.NewClient(awsCfg, clientOptions...), cfg.Table, feedOpts...)
	factory := readers.Factory{Secrets: secrets.SecretsManager{Client: secretsmanager.NewFromConfig(awsCfg), Prefix: prefix}}
	runner := drift.New(drift.Config{Store: store, Service: scim.NewService(store), Links: store, Feed: store, Clock: time.Now, Readers: factory.New})
	logger := lambdaapi.NewLogger(out, cfg.LogLevel).With("function", FunctionName)
	return func(ctx context.Context, raw json.RawMessage) (Summary, error) {
		var ev Event
		_ = json.Unmarshal(raw, &ev) // a scheduled event has none of these fields
		return runAll(ctx, store, runner, ev, logger, out)
	}, nil
}

func runAll(ctx context.Context, store *dynamostore.Store, runner *drift.Runner, ev Event, logger *slog.Logger, out io.Writer) (Summary, error) {
	sum := Summary{Counts: map[drift.Kind]int{}, Repaired: map[drift.Kind]int{}}
	runCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, deadline.Add(-deadlineMargin))
		defer cancel()
	}
	var err error
	if ev.Tenant != "" || ev.SSO != "" {
		conn := scim.Connection{Tenant: ev.Tenant, SSO: ev.SSO}
		sum.Report, err = runOne(runCtx, runner, conn, drift.Options{Repair: ev.Repair, MaxDeactivate: ev.MaxDeactivate}, &sum, logger)
		sum.Complete = err == nil
	} else {
		err = runScheduled(runCtx, store, runner, &sum, logger)
	}
	emit(ctx, out, &sum)
	logger.InfoContext(ctx, "reconcile done", slog.Int("connections", sum.Connections), slog.Int("failed", sum.Failed), slog.Bool("complete", sum.Complete))
	return sum, err
}

// runScheduled runs every linked connection with its link's policy. A
// connection's failure is logged and counted and the others still run.
func runScheduled(ctx context.Context, store *dynamostore.Store, runner *drift.Runner, sum *Summary, logger *slog.Logger) error {
	conns, err := store.ListConnections(ctx, "")
	if err != nil {
		return fmt.Errorf("reconcile: list connections: %w", err)
	}
	for _, c := range conns {
		if ctx.Err() != nil {
			return fmt.Errorf("reconcile: stopped after %d connections: %w", sum.Connections, ctx.Err())
		}
		l, err := store.GetIdPLink(ctx, c.Conn)
		if scim.IsNotFound(err) {
			continue
		}
		if err != nil {
			sum.Failed++
			logger.ErrorContext(ctx, "read link", slog.String("tenant", c.Conn.Tenant), slog.String("sso", c.Conn.SSO), slog.String("error", err.Error()))
			continue
		}
		_, _ = runOne(ctx, runner, c.Conn, drift.Options{Repair: l.Policy == idp.PolicyRepair}, sum, logger)
	}
	sum.Complete = true
	return nil
}

func runOne(ctx context.Context, runner *drift.Runner, conn scim.Connection, opts drift.Options, sum *Summary, logger *slog.Logger) (*drift.Report, error) {
	sum.Connections++
	rep, err := runner.RunConnection(ctx, conn, opts)
	attrs := []any{slog.String("tenant", conn.Tenant), slog.String("sso", conn.SSO)}
	if rep != nil {
		for _, k := range drift.Kinds {
			sum.Counts[k] += rep.Counts[k]
			sum.Repaired[k] += rep.Repaired[k]
			attrs = append(attrs, slog.Int(string(k), rep.Counts[k]))
		}
		attrs = append(attrs, slog.Bool("guard_tripped", rep.GuardTripped), slog.Int("idp_requests", rep.IdPRequests))
	}
	if err != nil {
		sum.Failed++
		// The error is an idp.Error's one line (and its cause: a status, a
		// transport or Secrets Manager failure) or a store failure: never a secret.
		attrs = append(attrs, slog.String("error", err.Error()))
		var ie *idp.Error
		if errors.As(err, &ie) && ie.Err != nil {
			attrs = append(attrs, slog.String("cause", ie.Err.Error()))
		}
		logger.ErrorContext(ctx, "reconcile failed", attrs...)
		return rep, err
	}
	logger.InfoContext(ctx, "reconciled", attrs...)
	return rep, nil
}

// emit writes the run's EMF line: one metric per drift kind (found), the
// repairs, the failures.
func emit(ctx context.Context, out io.Writer, sum *Summary) {
	props := map[string]string{metrics.DimFunction: FunctionName}
	if trace := lambdaapi.TraceID(ctx); trace != "" {
		props[metrics.PropertyTraceID] = trace
	}
	values := []metrics.Metric{
		{Name: metrics.MetricConnectionsReconciled, Unit: "Count", Value: float64(sum.Connections)},
		{Name: metrics.MetricReconcileFailures, Unit: "Count", Value: float64(sum.Failed)},
		{Name: metrics.MetricReconcileRepaired, Unit: "Count", Value: float64(sum.Repaired[drift.ActiveNotAssigned] + sum.Repaired[drift.MemberExtra])},
	}
	for _, k := range drift.Kinds {
		values = append(values, metrics.Metric{Name: metrics.DriftMetric(string(k)), Unit: "Count", Value: float64(sum.Counts[k])})
	}
	_ = metrics.WriteEMF(out, time.Now(), props, [][]string{{}}, values)
}

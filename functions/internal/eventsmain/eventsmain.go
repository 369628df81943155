// Package eventsmain is the whole main of the EventsFunction Lambda
// function: read the configuration from the environment, build the
// EventBridge client once per execution environment, and hand each batch of
// the table's stream to eventbridge.StreamHandler.
package eventsmain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	sdkeventbridge "github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/eventbridge"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
)

// EnvEventBus names the bus the records go to (the template sets it).
const EnvEventBus = "SCIMGATE_EVENT_BUS"

// Handler is the function's handler: a stream batch in, the batch item
// failures out (ReportBatchItemFailures).
type Handler func(ctx context.Context, ev lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error)

// Run starts the function; a configuration error ends the init phase with
// the reason on stderr, as the SCIM functions do.
func Run() {
	h, err := New(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scimgate events function cannot start: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// New builds the handler: configuration through getenv, JSON logs to logs,
// clientOptions applied to the EventBridge client (tests point it at moto).
func New(ctx context.Context, getenv func(string) string, logs io.Writer, clientOptions ...func(*sdkeventbridge.Options)) (Handler, error) {
	bus := strings.TrimSpace(getenv(EnvEventBus))
	if bus == "" {
		return nil, errors.New(EnvEventBus + " is not set: the name or ARN of the event bus to publish change records to")
	}
	level := slog.LevelInfo
	if raw := strings.TrimSpace(getenv(lambdaapi.EnvLogLevel)); raw != "" {
		if err := level.UnmarshalText([]byte(raw)); err != nil {
			return nil, fmt.Errorf("%s=%q: use DEBUG, INFO, WARN or ERROR", lambdaapi.EnvLogLevel, raw)
		}
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	h := eventbridge.StreamHandler{
		Publisher:       eventbridge.Publisher{API: sdkeventbridge.NewFromConfig(awsCfg, clientOptions...), Bus: bus},
		RecordAttribute: dynamostore.ChangeRecordAttribute,
		Logger:          lambdaapi.NewLogger(logs, level).With("function", "events"),
	}
	return h.Handle, nil
}

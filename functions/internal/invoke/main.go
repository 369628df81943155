// Command invoke runs one Lambda function of the SAM template locally, as
// `make invoke FUNCTION=<LogicalId> EVENT=events/<file>.json` does: it builds
// the function's real bootstrap for this machine, runs it under the Lambda
// Runtime Interface Emulator against a local DynamoDB (moto_server, started
// unless AWS_ENDPOINT_URL_DYNAMODB names one already running), creates the
// table and the demo token with the scimgate CLI, sends the event, prints the
// response and stops everything it started.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkeventbridge "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/scimgate/scimgate/functions/internal/eventsmain"
	"github.com/scimgate/scimgate/functions/internal/samtemplate"
	"github.com/scimgate/scimgate/internal/localrun"
	"github.com/scimgate/scimgate/pkg/dynamotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	function := fs.String("function", "", "logical id of the function in template.yaml, e.g. UsersFunction")
	eventFile := fs.String("event", "", "API Gateway HTTP API event, e.g. events/07-users-create.json, or a DynamoDB stream event for EventsFunction, e.g. events/stream/user-deactivated.json")
	varsFlag := fs.String("vars", "", `values of the event's placeholders: "userId=... groupId=..."`)
	templateFile := fs.String("template", "template.yaml", "the SAM template")
	printEvent := fs.Bool("print-event", false, "only print the event with its placeholders filled (for sam local invoke)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *eventFile == "" || (*function == "" && !*printEvent) {
		return errors.New("usage: invoke -function <LogicalId> -event <file> [-vars 'name=value ...'] | invoke -print-event -event <file> [-vars ...]")
	}
	vars, err := parseVars(*varsFlag)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*eventFile)
	if err != nil {
		return err
	}
	event, err := localrun.Substitute(raw, vars)
	if err != nil {
		return fmt.Errorf("%s: %w; ids are server-assigned: create the resource first (for example events/07-users-create.json), keep the DynamoDB running (see events/README.md) and pass VARS='name=id'", *eventFile, err)
	}
	if *printEvent {
		_, err := fmt.Fprintf(stdout, "%s\n", event)
		return err
	}

	tpl, err := samtemplate.Load(*templateFile)
	if err != nil {
		return err
	}
	fn, ok := tpl.Function(*function)
	if !ok {
		var ids []string
		for _, f := range tpl.Functions() {
			ids = append(ids, f.LogicalID)
		}
		return fmt.Errorf("%s is not a function of %s; choose one of %s", *function, *templateFile, strings.Join(ids, ", "))
	}
	dir, err := samtemplate.FunctionDir(fn.LogicalID)
	if err != nil {
		return err
	}

	// A DynamoDB stream event (events/stream/*.json) goes to EventsFunction,
	// which publishes to an event bus; every other event is an HTTP API
	// request, checked against the template's routes.
	stream := isStreamEvent(event)
	if !stream {
		req, err := localrun.ParseRequest(event)
		if err != nil {
			return err
		}
		if route, ok := samtemplate.Match(tpl.Routes(), req.Method, req.RawPath); !ok {
			fmt.Fprintf(stderr, "warning: API Gateway would answer %s %s itself: no route of %s matches\n", req.Method, req.RawPath, *templateFile)
		} else if route.Function != fn.LogicalID {
			fmt.Fprintf(stderr, "warning: API Gateway routes %s %s to %s (route %q), not to %s\n", req.Method, req.RawPath, route.Function, route.Key(), fn.LogicalID)
		}
	}

	rie, err := localrun.FindRIE()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "scimgate-invoke-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	fmt.Fprintf(stderr, "building functions/%s and the scimgate CLI for this machine...\n", dir)
	bootstrap, err := localrun.BuildBootstrap(ctx, ".", "functions/"+dir, work)
	if err != nil {
		return err
	}
	cli, err := localrun.BuildCLI(ctx, ".", work)
	if err != nil {
		return err
	}

	endpoint := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if endpoint == "" {
		fmt.Fprintln(stderr, "starting moto_server (set AWS_ENDPOINT_URL_DYNAMODB to use a DynamoDB that outlives this invoke)...")
		moto, err := dynamotest.StartProcess()
		if err != nil {
			return fmt.Errorf("start moto_server: %w", err)
		}
		defer moto.Stop()
		endpoint = moto.Endpoint()
	}
	table := os.Getenv("SCIMGATE_DYNAMODB_TABLE")
	if table == "" {
		table = localrun.LocalTable
	}
	// The function's own settings from the template, as sam local invoke passes them.
	extra := []string{"AWS_LAMBDA_FUNCTION_NAME=" + fn.LogicalID}
	if t, ok := tpl.Setting(fn, "Timeout"); ok {
		extra = append(extra, fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%v", t))
	}
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		extra = append(extra, "LOG_LEVEL="+v)
	}
	if v := os.Getenv("SCIMGATE_TENANT"); v != "" {
		extra = append(extra, "SCIMGATE_TENANT="+v)
	}
	if stream {
		// moto serves EventBridge too: the function publishes to a bus there.
		if err := createEventBus(ctx, endpoint, localEventBus); err != nil {
			return err
		}
		extra = append(extra, "AWS_ENDPOINT_URL_EVENTBRIDGE="+endpoint, eventsmain.EnvEventBus+"="+localEventBus)
	}
	env := localrun.FunctionEnv(endpoint, table, extra...)
	if err := localrun.Seed(ctx, cli, env); err != nil {
		return err
	}

	emu, err := localrun.StartEmulator(ctx, rie, bootstrap, env)
	if err != nil {
		return err
	}
	defer emu.Stop()
	payload, invokeErr := emu.Invoke(ctx, event)
	fmt.Fprintf(stderr, "--- emulator and function output\n%s", emu.Logs())
	if initPhase, _, ok := emu.InitDuration(); ok {
		fmt.Fprintf(stderr, "--- init phase (emulator's INIT REPORT): %.2f ms\n", float64(initPhase.Microseconds())/1000)
	}
	if invokeErr != nil {
		return invokeErr
	}
	if stream {
		return printStreamResponse(stdout, payload)
	}
	return printResponse(stdout, payload)
}

// localEventBus is the bus make invoke creates on moto for EventsFunction.
const localEventBus = "scimgate-local-changes"

// isStreamEvent reports whether event is a DynamoDB stream batch.
func isStreamEvent(event []byte) bool {
	var e struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	return json.Unmarshal(event, &e) == nil && len(e.Records) > 0 && e.Records[0].EventSource == "aws:dynamodb"
}

// createEventBus creates the bus on the local endpoint (moto), idempotently.
func createEventBus(ctx context.Context, endpoint, name string) error {
	client := sdkeventbridge.New(sdkeventbridge.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	_, err := client.CreateEventBus(ctx, &sdkeventbridge.CreateEventBusInput{Name: aws.String(name)})
	var exists *ebtypes.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create the local event bus %s: %w", name, err)
	}
	return nil
}

// printStreamResponse shows the events function's answer: the stream
// records it could not publish (batchItemFailures), empty when all were.
func printStreamResponse(w io.Writer, payload []byte) error {
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return fmt.Errorf("the function's response is not a stream batch response: %w\n%s", err, payload)
	}
	fmt.Fprintf(w, "--- response\n%d batch item failure(s)\n", len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		fmt.Fprintf(w, "  %s\n", f.ItemIdentifier)
	}
	return nil
}

// parseVars reads "name=value name2=value2".
func parseVars(s string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range strings.Fields(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("VARS: %q is not name=value", kv)
		}
		vars[k] = v
	}
	return vars, nil
}

// printResponse shows the API Gateway response as the IdP would get it:
// status, headers, and the body decoded and indented.
func printResponse(w io.Writer, payload []byte) error {
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return fmt.Errorf("the function's response is not an HTTP API response: %w\n%s", err, payload)
	}
	fmt.Fprintf(w, "--- response\nHTTP %d\n", resp.StatusCode)
	names := make([]string, 0, len(resp.Headers))
	for k := range resp.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "%s: %s\n", k, resp.Headers[k])
	}
	for _, c := range resp.Cookies {
		fmt.Fprintf(w, "Set-Cookie: %s\n", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return fmt.Errorf("response body: %w", err)
		}
		body = b
	}
	if len(body) > 0 {
		var indented bytes.Buffer
		if json.Indent(&indented, body, "", "  ") == nil {
			body = indented.Bytes()
		}
		fmt.Fprintf(w, "\n%s\n", body)
	}
	return nil
}

package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scimgate/scimgate/functions/internal/samtemplate"
	"github.com/scimgate/scimgate/internal/localrun"
)

// requireRIE returns the emulator's path, or skips the test loudly without
// it; under CI=true a missing emulator is a failure (`make tools` installs it).
func requireRIE(t *testing.T) string {
	t.Helper()
	rie, err := localrun.FindRIE()
	if err != nil {
		msg := "Lambda emulator tests SKIPPED: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: a missing aws-lambda-rie is a failure)")
		}
		fmt.Fprintln(os.Stderr, "\n!!! "+msg+" !!!")
		t.Skip(msg)
	}
	return rie
}

// TestFunctionsUnderEmulator is the end-to-end test of the deployment: it
// builds every function's real bootstrap (for this machine's architecture,
// otherwise as deployed), runs each under aws-lambda-rie on its own loopback
// ports against moto, seeds the table and demo token with the scimgate CLI
// as an operator would, and replays events/ in order, each event to the
// function API Gateway would route it to.
func TestFunctionsUnderEmulator(t *testing.T) {
	rie := requireRIE(t)
	srv := moto.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const table = "scimgate-emulator-test"

	cli := builtCLI(t, ctx)
	env := localrun.FunctionEnv(srv.Endpoint(), table)
	if err := localrun.Seed(ctx, cli, env); err != nil {
		t.Fatal(err)
	}

	tpl := loadTemplate(t)
	emulators := map[string]*localrun.Emulator{}
	bootstraps := map[string]string{}
	for _, fn := range tpl.Functions() {
		if isStreamFunction(fn) {
			continue // events_test.go runs EventsFunction's code on stream records
		}
		dir, err := samtemplate.FunctionDir(fn.LogicalID)
		if err != nil {
			t.Fatal(err)
		}
		bootstrap := builtBootstrap(t, ctx, dir)
		bootstraps[fn.LogicalID] = bootstrap
		timeout, _ := tpl.Setting(fn, "Timeout")
		emu, err := localrun.StartEmulator(ctx, rie, bootstrap, append(slicesClone(env),
			"AWS_LAMBDA_FUNCTION_NAME="+fn.LogicalID, fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%v", timeout),
			"SCIMGATE_WEBHOOK_RUN_FOR=2s")) // the webhooks function's run, not its 55 s
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(emu.Stop)
		emulators[fn.LogicalID] = emu
	}

	replayEvents(t, tpl, func(t *testing.T, function string, event []byte) events.APIGatewayV2HTTPResponse {
		t.Helper()
		emu := emulators[function]
		payload, err := emu.Invoke(ctx, event)
		if err != nil {
			t.Fatalf("%s: %v\n--- emulator output:\n%s", function, err, emu.Logs())
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(payload, &resp); err != nil {
			t.Fatalf("%s: response is not an HTTP API response: %v: %s", function, err, payload)
		}
		return resp
	})

	// Functions without routes run on a schedule: invoke each with EventBridge's scheduled event.
	for _, fn := range tpl.Functions() {
		if len(fn.Routes) > 0 || isStreamFunction(fn) {
			continue
		}
		payload, err := emulators[fn.LogicalID].Invoke(ctx, []byte(`{"version":"0","id":"e","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
		if err != nil || !strings.Contains(string(payload), `"complete":true`) {
			t.Errorf("%s: scheduled invocation: %v, %s\n--- emulator output:\n%s", fn.LogicalID, err, payload, emulators[fn.LogicalID].Logs())
		}
		// The emulator relays the function's output after the response: wait for the run's EMF line.
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(emulators[fn.LogicalID].Logs(), `"CloudWatchMetrics"`) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}

	for _, fn := range tpl.Functions() {
		emu, ok := emulators[fn.LogicalID]
		if !ok {
			continue
		}
		initPhase, reportLine, ok := emu.InitDuration()
		if !ok {
			t.Errorf("%s was never invoked: no event of events/ reaches it", fn.LogicalID)
			continue
		}
		// Every function writes EMF metrics to its log.
		if !strings.Contains(emu.Logs(), `"CloudWatchMetrics"`) {
			t.Errorf("%s: no EMF metrics line in its output:\n%s", fn.LogicalID, emu.Logs())
		}
		// Every request is one JSON log line carrying the Lambda request id.
		if len(fn.Routes) > 0 && (!strings.Contains(emu.Logs(), `"msg":"request"`) || !strings.Contains(emu.Logs(), `"aws_request_id":"`)) {
			t.Errorf("%s: no JSON request log line with aws_request_id in its output:\n%s", fn.LogicalID, emu.Logs())
		}
		info, err := os.Stat(bootstraps[fn.LogicalID])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: bootstrap %d bytes; emulator INIT REPORT %.2f ms (its REPORT line says Init Duration %.2f ms)",
			fn.LogicalID, info.Size(), ms(initPhase), ms(reportLine))
	}

	t.Run("a dedicated stack refuses other tenants", func(t *testing.T) {
		evs, err := localrun.LoadEvents(eventsDir)
		if err != nil {
			t.Fatal(err)
		}
		var lookup []byte
		for _, ev := range evs {
			if expectationName(ev.Name) == "users-lookup-absent" {
				lookup = ev.Raw
			}
		}
		for tenant, status := range map[string]int{"acme": 404, localrun.DemoTenant: 200} {
			emu, err := localrun.StartEmulator(ctx, rie, bootstraps["UsersFunction"], append(slicesClone(env), "SCIMGATE_TENANT="+tenant))
			if err != nil {
				t.Fatal(err)
			}
			payload, err := emu.Invoke(ctx, lookup)
			emu.Stop()
			if err != nil {
				t.Fatalf("SCIMGATE_TENANT=%s: %v", tenant, err)
			}
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(payload, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != status {
				t.Errorf("SCIMGATE_TENANT=%s: a request for tenant %s got %d, want %d: %s", tenant, localrun.DemoTenant, resp.StatusCode, status, resp.Body)
			}
		}
	})

	t.Run("missing configuration fails the init phase", func(t *testing.T) {
		var without []string
		for _, kv := range env {
			if !strings.HasPrefix(kv, "SCIMGATE_DYNAMODB_TABLE=") {
				without = append(without, kv)
			}
		}
		emu, err := localrun.StartEmulator(ctx, rie, bootstraps["UsersFunction"], without)
		if err != nil {
			t.Fatal(err)
		}
		defer emu.Stop()
		evs, err := localrun.LoadEvents(eventsDir)
		if err != nil {
			t.Fatal(err)
		}
		if payload, err := emu.Invoke(ctx, evs[0].Raw); err == nil {
			t.Fatalf("a function without SCIMGATE_DYNAMODB_TABLE answered %s", payload)
		}
		// The emulator answers the failed invoke before it has necessarily
		// copied all of the process's stderr, so wait (boundedly) for the line.
		want := "SCIMGATE_DYNAMODB_TABLE is not set"
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(emu.Logs(), want) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(emu.Logs(), want) {
			t.Errorf("the function's output does not say %q:\n%s", want, emu.Logs())
		}
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func slicesClone(s []string) []string { return append([]string(nil), s...) }

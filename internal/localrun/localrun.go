// Package localrun runs scimgate's Lambda functions on this machine the way
// Lambda runs them: the real bootstrap binary under the Lambda Runtime
// Interface Emulator (aws-lambda-rie), against a local DynamoDB API. The
// functions' end-to-end tests, `make invoke` and the performance report
// (cmd/perfreport) share it.
package localrun

import (
	"bytes"
	"context"
	"fmt"
	"github.com/scimgate/scimgate/pkg/subprocess"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The demo connection every file in events/ addresses, and its token. The
// secret is public on purpose: it exists only in local tables.
const (
	DemoTenant = "demo"
	DemoSSO    = "okta"
	DemoToken  = "scimgate_local-demo-token-not-a-secret-0123456789abcdef"
	// LocalTable is the table name make invoke uses unless SCIMGATE_DYNAMODB_TABLE says otherwise.
	LocalTable = "scimgate-local"
)

// RIECommand is the emulator's executable name.
const RIECommand = "aws-lambda-rie"

// FindRIE returns the emulator's path: on PATH, or where `go install` puts
// it (the Makefile's tools target).
func FindRIE() (string, error) {
	if p, err := exec.LookPath(RIECommand); err == nil {
		return p, nil
	}
	gobin, err := goEnv("GOBIN")
	if err != nil {
		return "", err
	}
	if gobin == "" {
		gopath, err := goEnv("GOPATH")
		if err != nil {
			return "", err
		}
		gobin = filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin")
	}
	p := filepath.Join(gobin, RIECommand)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not installed (make tools installs it): %w", RIECommand, err)
	}
	return p, nil
}

func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// BuildBootstrap builds the main package at pkgDir (relative to the module
// at moduleRoot, such as "functions/users") for this machine into
// outDir/bootstrap and returns its path. The flags are the Makefile's
// LAMBDA_GOFLAGS: the binary deployed, only for this machine's architecture.
func BuildBootstrap(ctx context.Context, moduleRoot, pkgDir, outDir string) (string, error) {
	out := filepath.Join(outDir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w",
		"-o", out, "./"+pkgDir)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkgDir, err, b)
	}
	return out, nil
}

// BuildCLI builds cmd/scimgate into outDir and returns its path.
func BuildCLI(ctx context.Context, moduleRoot, outDir string) (string, error) {
	out := filepath.Join(outDir, "scimgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/scimgate")
	cmd.Dir = moduleRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build cmd/scimgate: %w\n%s", err, b)
	}
	return out, nil
}

// Seed creates the table (idempotent) and stores the demo token with the
// scimgate CLI, exactly as an operator would against a deployed table.
// env must name the table and the endpoint. A demo token that is already
// stored (a DynamoDB left running from an earlier invoke) is fine.
func Seed(ctx context.Context, cli string, env []string) error {
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := run("table", "create"); err != nil {
		return fmt.Errorf("scimgate table create: %w\n%s", err, out)
	}
	out, err := run("token", "create", "--tenant", DemoTenant, "--sso", DemoSSO, "--secret", DemoToken)
	if err != nil && !strings.Contains(out, "already stored") {
		return fmt.Errorf("scimgate token create: %w\n%s", err, out)
	}
	return nil
}

// Emulator is one function's bootstrap running under aws-lambda-rie.
type Emulator struct {
	url  string
	proc *subprocess.Process
}

// StartEmulator runs bootstrap under the emulator at rie on two free
// loopback ports (the invoke API and the Runtime API the bootstrap talks
// to). env is the complete environment of the emulator, which passes it on to
// the function, as Lambda passes the function's configuration. The caller
// must Stop it.
func StartEmulator(ctx context.Context, rie, bootstrap string, env []string) (*Emulator, error) {
	invokePort, err := subprocess.FreePort()
	if err != nil {
		return nil, err
	}
	runtimePort, err := subprocess.FreePort()
	if err != nil {
		return nil, err
	}
	// --log-level info: the emulator then logs "INIT REPORT(durationMs: …)",
	// the time from starting the bootstrap to its first request for work.
	cmd := exec.Command(rie, "--log-level", "info",
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", invokePort),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", runtimePort),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	// subprocess gives it its own process group, so that Stop also ends the bootstrap.
	proc, err := subprocess.Start(cmd, nil)
	if err != nil {
		return nil, err
	}
	e := &Emulator{
		url:  fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", invokePort),
		proc: proc,
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", invokePort), time.Second)
		if err == nil {
			conn.Close()
			return e, nil
		}
		select {
		case <-proc.Exited():
			return nil, fmt.Errorf("%s exited during start-up:\n%s", rie, proc.Output())
		case <-ctx.Done():
			e.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("%s did not listen within 30s:\n%s", rie, proc.Output())
		}
	}
}

// Invoke sends one event and returns the function's response payload.
func (e *Emulator) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke: emulator answered %s: %s", resp.Status, body)
	}
	// An error returned or a panic in the handler comes back as 200 with
	// Lambda's error document instead of an API Gateway response.
	if bytes.Contains(body, []byte(`"errorType"`)) && bytes.Contains(body, []byte(`"errorMessage"`)) {
		return nil, fmt.Errorf("invoke: function error: %s", body)
	}
	return body, nil
}

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
var reportInitDuration = regexp.MustCompile(`REPORT RequestId: \S+\s+Init Duration: ([0-9.]+) ms`)

// InitDuration is what the emulator reports for the function's init phase:
// its "INIT REPORT(durationMs: …)" log line, from starting the bootstrap to
// the bootstrap's first request for an event (the init code of Lambda's
// Init Duration). The emulator's REPORT line also has an "Init Duration",
// which only times handing the init to its runtime (a few µs) and is
// therefore returned separately as reportLine. ok is false before the
// first invoke.
func (e *Emulator) InitDuration() (initPhase, reportLine time.Duration, ok bool) {
	out := e.proc.Output()
	m := initReport.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, false
	}
	initPhase = msDuration(m[1])
	if r := reportInitDuration.FindStringSubmatch(out); r != nil {
		reportLine = msDuration(r[1])
	}
	return initPhase, reportLine, true
}

func msDuration(ms string) time.Duration {
	f, _ := strconv.ParseFloat(ms, 64)
	return time.Duration(f * float64(time.Millisecond))
}

// Logs returns everything the emulator and the function wrote so far.
func (e *Emulator) Logs() string { return e.proc.Output() }

// Stop ends the emulator and the function and waits for them.
func (e *Emulator) Stop() { e.proc.Stop() }

// FunctionEnv is the environment of a locally run function: only what it
// needs, never the caller's AWS profile or credentials, so that nothing can
// reach a real AWS account. extra (KEY=value) is appended last and wins.
func FunctionEnv(endpoint, table string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
		"SCIMGATE_DYNAMODB_TABLE=" + table,
		"LOG_LEVEL=INFO",
	}
	return append(env, extra...)
}

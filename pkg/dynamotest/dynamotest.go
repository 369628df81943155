// Package dynamotest runs the DynamoDB tests against moto_server (moto 5),
// a local emulation of the DynamoDB API: no AWS account, no network.
//
// One server per test binary keeps the suite fast:
//
//	var moto dynamotest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(moto.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		srv := moto.Server(t)
//		client := srv.Client(t)
//		table := srv.NewTable(t, client)
//		...
//	}
//
// Without moto_server on PATH the tests are skipped with a loud message,
// except under CI=true, where that is a failure: CI must never pass by
// skipping the DynamoDB store.
package dynamotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/subprocess"
)

// Command is the moto server executable looked up on PATH.
const Command = "moto_server"

// startTimeout bounds moto's start-up (about 2 s on a quiet machine; a
// loaded CI box with two cores can take several times that).
const startTimeout = 60 * time.Second

// Server is a running moto_server on a loopback port.
type Server struct {
	endpoint string
	proc     *subprocess.Process
	tables   atomic.Int64
	requests sync.Mutex // see Client
}

// Start starts a moto_server for one test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	requireMoto(t)
	srv, err := StartProcess()
	if err != nil {
		t.Fatalf("start %s: %v", Command, err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// requireMoto skips (or under CI=true fails) the test when moto_server is
// not installed.
func requireMoto(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath(Command); err != nil {
		msg := "DynamoDB tests SKIPPED: " + Command + " not found on PATH; install moto 5 (pip install 'moto[server]>=5,<6') to run them"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: a missing moto_server is a failure)")
		}
		fmt.Fprintln(os.Stderr, "\n!!! "+msg+" !!!")
		t.Skip(msg)
	}
}

// StartProcess starts moto_server on a free loopback port and waits until
// it answers. The caller must Stop it.
func StartProcess() (*Server, error) {
	path, err := exec.LookPath(Command)
	if err != nil {
		return nil, err
	}
	port, err := subprocess.FreePort()
	if err != nil {
		return nil, err
	}
	proc, err := subprocess.Start(exec.Command(path, "-H", "127.0.0.1", "-p", fmt.Sprint(port)), &subprocess.Buffer{Limit: 16 << 10})
	if err != nil {
		return nil, err
	}
	srv := &Server{endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), proc: proc}
	if err := srv.waitReady(); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("%w; %s output:\n%s", err, Command, proc.Output())
	}
	return srv, nil
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.Exited():
			return errors.New(Command + " exited during start-up")
		default:
		}
		resp, err := client.Get(s.endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer on %s within %v", Command, s.endpoint, startTimeout)
}

// Stop ends the server's process group and waits for it to exit.
func (s *Server) Stop() { s.proc.Stop() }

// Endpoint is the server's base URL.
func (s *Server) Endpoint() string { return s.endpoint }

// Client returns a DynamoDB client for the server: static fake
// credentials, us-east-1. optFns are applied after that (a CallCounter's
// ClientOption, for example).
//
// The clients of one Server send their requests one at a time. DynamoDB
// isolates transactions (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation);
// moto's threaded server does not: it applies a transaction item by item
// and rolls back by restoring a copy of the whole table, which can let two
// conflicting transactions both succeed or undo a concurrent one's writes.
// Running one request at a time is one of the orders DynamoDB could have
// chosen, so tests of concurrent use stay meaningful; moto is bound to one
// core by Python's GIL anyway, so it costs next to nothing.
func (s *Server) Client(t testing.TB, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		// The timeout turns a hung moto into a failure instead of a stuck
		// test binary; the slowest moto call (a 100-item transaction on a
		// large table, queued behind others) takes seconds.
		HTTPClient: &http.Client{Timeout: 2 * time.Minute, Transport: &oneAtATime{mu: &s.requests, next: http.DefaultTransport}},
	}
	opts := append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(s.endpoint)
	}}, optFns...)
	return dynamodb.NewFromConfig(cfg, opts...)
}

// oneAtATime serialises round trips, response bodies included.
type oneAtATime struct {
	mu   *sync.Mutex
	next http.RoundTripper
}

func (o *oneAtATime) RoundTrip(req *http.Request) (*http.Response, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	resp, err := o.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

var unsafeTableChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// NewTable creates a table of its own for the test and returns its name.
// The name carries the test's name, so that moto's log says which test did
// what.
//
// The table is dynamostore's definition without its stream: moto keeps
// every stream record of a table and deep-copies the whole table, records
// included, for each item of each TransactWriteItems (to roll back), which
// made the store's suite five times slower. The stream changes nothing the
// store reads or writes; dynamostore's own test creates the full definition.
func (s *Server) NewTable(t testing.TB, client dynamostore.TableAPI) string {
	t.Helper()
	base := strings.Trim(unsafeTableChars.ReplaceAllString(t.Name(), "-"), "-")
	if len(base) > 200 {
		base = base[:200]
	}
	table := fmt.Sprintf("scimgate-%s-%d", base, s.tables.Add(1))
	def := dynamostore.TableDefinition(table)
	def.StreamSpecification = nil
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamostore.CreateTableFrom(ctx, client, def); err != nil {
		t.Fatalf("create table %s: %v", table, err)
	}
	return table
}

// Shared is one moto_server for a whole test binary, started by the first
// test that asks for it. Keep it in a variable of the test package and stop
// it from TestMain through Run.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Server returns the shared server, starting it on first use; like Start
// it skips the test (or fails it under CI=true) without moto_server.
func (sh *Shared) Server(t testing.TB) *Server {
	t.Helper()
	requireMoto(t)
	sh.once.Do(func() { sh.srv, sh.err = StartProcess() })
	if sh.err != nil {
		t.Fatalf("start %s: %v", Command, sh.err)
	}
	return sh.srv
}

// Run runs the tests and then stops the server if one was started. It
// returns m.Run's exit code: os.Exit(shared.Run(m)).
func (sh *Shared) Run(m *testing.M) int {
	code := m.Run()
	sh.Close()
	return code
}

// Close stops the server if one was started.
func (sh *Shared) Close() {
	if sh.srv != nil {
		sh.srv.Stop()
	}
}

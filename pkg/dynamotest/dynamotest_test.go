package dynamotest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

var shared Shared

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

func TestServerAnswersDynamoDB(t *testing.T) {
	srv := shared.Server(t)
	if again := shared.Server(t); again != srv {
		t.Fatalf("Shared started a second server")
	}
	client := srv.Client(t)
	a, b := srv.NewTable(t, client), srv.NewTable(t, client)
	if a == b {
		t.Fatalf("two tables named %s", a)
	}
	out, err := client.ListTables(context.Background(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	for _, want := range []string{a, b} {
		if !slices.Contains(out.TableNames, want) {
			t.Errorf("table %s missing from %v", want, out.TableNames)
		}
	}
	if !strings.HasPrefix(a, "scimgate-TestServerAnswersDynamoDB-") {
		t.Errorf("table name %q does not say which test made it", a)
	}
}

func TestStopEndsTheProcess(t *testing.T) {
	requireMoto(t)
	srv, err := StartProcess()
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	pid := srv.proc.Pid()
	srv.Stop()
	srv.Stop() // twice is harmless
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("moto_server %d still there after Stop: %v", pid, err)
	}
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(srv.Endpoint() + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Fatalf("%s still answers after Stop", srv.Endpoint())
	}
}

// TestHelperNeedsMoto is run by TestMissingMoto in a child process whose
// PATH has no moto_server.
func TestHelperNeedsMoto(t *testing.T) {
	if os.Getenv("DYNAMOTEST_HELPER") != "1" {
		t.Skip("only run as TestMissingMoto's child process")
	}
	Start(t)
	t.Log("reached past Start")
}

func TestMissingMoto(t *testing.T) {
	tests := []struct {
		name     string
		ci       string
		wantFail bool
		wantOut  string
	}{
		{"skips loudly", "", false, "--- SKIP: TestHelperNeedsMoto"},
		{"fails under CI", "true", true, "--- FAIL: TestHelperNeedsMoto"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNeedsMoto$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "DYNAMOTEST_HELPER=1", "PATH="+t.TempDir(), "CI="+tc.ci)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if failed := errors.As(err, &exit); failed != tc.wantFail || (err != nil && !failed) {
				t.Fatalf("child err = %v, want failure %v; output:\n%s", err, tc.wantFail, out)
			}
			for _, want := range []string{tc.wantOut, "DynamoDB tests SKIPPED: moto_server not found"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(string(out), "reached past Start") {
				t.Errorf("test went on without moto_server")
			}
		})
	}
}

// TestOneAtATime checks that the transport of Client never has two
// requests in flight, against a real local HTTP server.
func TestOneAtATime(t *testing.T) {
	var inFlight, peak atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	defer backend.Close()
	var mu sync.Mutex
	client := &http.Client{Transport: &oneAtATime{mu: &mu, next: http.DefaultTransport}}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			resp, err := client.Get(backend.URL)
			if err != nil {
				t.Errorf("get: %v", err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if p := peak.Load(); p != 1 {
		t.Fatalf("%d requests in flight at once, want 1", p)
	}
}

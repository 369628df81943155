package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var metricsLine = regexp.MustCompile(`serving Prometheus metrics on http://(\S+)/metrics`)

// startServeWith runs `scimgate serve` with extra arguments and returns its
// banner, up to the SCIM "serving" line.
func startServeWith(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var b strings.Builder
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited early; it printed:\n%s", b.String())
			}
			b.WriteString(line + "\n")
			if servingLine.MatchString(line) {
				go func() {
					for range lines {
					}
				}()
				return b.String()
			}
		case <-deadline:
			t.Fatalf("serve did not start; it printed:\n%s", b.String())
		}
	}
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeMetricsAddr: --metrics-addr (and SCIMGATE_METRICS_ADDR) serve
// the Prometheus text format at /metrics on that address only, with the
// request counter by route and status class and the latency histogram.
func TestServeMetricsAddr(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", nil, []string{"--metrics-addr", "127.0.0.1:0"}},
		{"environment", []string{EnvMetricsAddr + "=127.0.0.1:0"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "scimgate.db")
			banner := startServeWith(t, bin, tc.env, append([]string{"--data", data, "--demo"}, tc.args...)...)
			m := metricsLine.FindStringSubmatch(banner)
			base := baseURLLine.FindStringSubmatch(banner)
			token := tokenLine.FindStringSubmatch(banner)
			if m == nil || base == nil || token == nil {
				t.Fatalf("banner lacks the metrics address or the demo connection:\n%s", banner)
			}
			if status := get(t, base[1]+"/Users", token[1]); status != http.StatusOK {
				t.Fatalf("GET /Users = %d", status)
			}
			if status := get(t, base[1]+"/Users", "scimgate_wrong"); status != http.StatusUnauthorized {
				t.Fatalf("bad token: %d", status)
			}
			status, body := fetch(t, "http://"+m[1]+"/metrics")
			if status != http.StatusOK {
				t.Fatalf("GET /metrics = %d", status)
			}
			for _, want := range []string{
				`scimgate_requests_total{route="GET /{tenant}/{sso}/Users",status_class="2xx"} 1`,
				`scimgate_requests_total{route="GET /{tenant}/{sso}/Users",status_class="4xx"} 1`,
				`scimgate_request_duration_seconds_bucket{route="GET /{tenant}/{sso}/Users",le="+Inf"} 2`,
				`scimgate_request_duration_seconds_count{route="GET /{tenant}/{sso}/Users"} 2`,
				`scimgate_auth_failures_total 1`,
				"# TYPE scimgate_request_duration_seconds histogram",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			// Not reachable through the SCIM address, and nothing else on the metrics one.
			scimHost := strings.TrimSuffix(strings.SplitN(strings.TrimPrefix(base[1], "http://"), "/", 2)[0], "/")
			if status, body := fetch(t, "http://"+scimHost+"/metrics"); status != http.StatusNotFound || strings.Contains(body, "scimgate_requests_total") {
				t.Errorf("/metrics on the SCIM address: %d", status)
			}
			if status, _ := fetch(t, "http://"+m[1]+"/scim/v2/demo/okta/Users"); status != http.StatusNotFound {
				t.Errorf("SCIM on the metrics address: %d", status)
			}
		})
	}
}

// TestServeWithoutMetricsAddr: no metrics listener unless asked for.
func TestServeWithoutMetricsAddr(t *testing.T) {
	bin := buildBinary(t)
	banner := startServeWith(t, bin, []string{EnvMetricsAddr + "="}, "--data", filepath.Join(t.TempDir(), "scimgate.db"))
	if metricsLine.MatchString(banner) {
		t.Fatalf("metrics served without --metrics-addr:\n%s", banner)
	}
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/dynamotest"
)

// builtBinary is the real command, built once for the whole test binary by
// the first test that runs it: linking it takes seconds of CPU, and every
// test needs the same binary. No test writes to it or beside it.
var builtBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildBinary returns the path of the real command, building it on first use.
func buildBinary(t *testing.T) string {
	t.Helper()
	b := &builtBinary
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "scimgate-cmd-test-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "scimgate")
		if out, err := exec.Command("go", "build", "-o", b.path, ".").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// removeBinary deletes the built command; TestMain calls it after the tests.
func removeBinary() {
	if builtBinary.dir != "" {
		os.RemoveAll(builtBinary.dir)
	}
}

var (
	baseURLLine = regexp.MustCompile(`SCIM base URL: (http://\S+)`)
	tokenLine   = regexp.MustCompile(`Bearer token:\s+(scimgate_\S+)`)
	servingLine = regexp.MustCompile(`serving SCIM on http://(\S+?)/scim/v2`)
)

// server is a running `scimgate serve`.
type server struct {
	cmd    *exec.Cmd
	banner string // what it printed up to the "serving" line
	addr   string
	done   chan error // receives Wait's result when it exits
}

// startServe runs `scimgate serve` on a free port with extra flags and
// returns once it is serving.
func startServe(t *testing.T, bin, data string, extra ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	var b strings.Builder
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited early; it printed:\n%s", b.String())
			}
			b.WriteString(line + "\n")
			if m := servingLine.FindStringSubmatch(line); m != nil {
				go func() {
					for range lines {
					}
				}()
				s.banner, s.addr = b.String(), m[1]
				return s
			}
		case <-deadline:
			t.Fatalf("serve did not start; it printed:\n%s", b.String())
		}
	}
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeAndTokenCreate: the README's first steps. serve prints a demo
// connection once, and token create works while serve runs on the same file.
func TestServeAndTokenCreate(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "nested", "dir", "scimgate.db")
	srv := startServe(t, bin, data, "--demo")
	banner, addr := srv.banner, srv.addr
	base := baseURLLine.FindStringSubmatch(banner)
	token := tokenLine.FindStringSubmatch(banner)
	if base == nil || token == nil {
		t.Fatalf("no demo connection in the banner:\n%s", banner)
	}
	if status := get(t, base[1]+"/Users", token[1]); status != http.StatusOK {
		t.Fatalf("demo token: GET /Users = %d", status)
	}

	cmd := exec.Command(bin, "token", "create", "--tenant", "acme", "--sso", "entra-id", "--data", data)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("token create while serving: %v\n%s", err, stderr.String())
	}
	newToken := strings.TrimSpace(string(out))
	if !strings.HasPrefix(newToken, "scimgate_") || strings.Contains(newToken, "\n") {
		t.Fatalf("stdout must hold the token alone, got %q", out)
	}
	acme := "http://" + addr + "/scim/v2/acme/entra-id"
	if status := get(t, acme+"/Users", newToken); status != http.StatusOK {
		t.Fatalf("new token: GET /Users = %d", status)
	}
	if status := get(t, base[1]+"/Users", newToken); status != http.StatusUnauthorized {
		t.Fatalf("acme's token on the demo connection: %d, want 401", status)
	}

	for _, bad := range [][]string{
		{"token", "create", "--tenant", "Acme_Corp", "--sso", "okta", "--data", data},
		{"token", "create", "--tenant", "acme", "--data", data},
		{"frobnicate"},
	} {
		cmd := exec.Command(bin, bad...)
		out, err := cmd.Output()
		if err == nil || len(out) != 0 {
			t.Fatalf("%v: err %v, stdout %q; want a failure and nothing on stdout", bad, err, out)
		}
	}
}

func TestSecondStartPrintsNoDemoToken(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "scimgate.db")
	if out, err := exec.Command(bin, "token", "create", "--tenant", "acme", "--sso", "okta", "--data", data).Output(); err != nil || len(out) == 0 {
		t.Fatalf("token create on a new store: %v", err)
	}
	banner := startServe(t, bin, data).banner
	if tokenLine.MatchString(banner) {
		t.Fatalf("a store that has a connection got a demo token:\n%s", banner)
	}
}

// TestTableCreateAndTokenOnDynamoDB runs the admin commands against a local
// DynamoDB endpoint through the AWS SDK's standard configuration.
func TestTableCreateAndTokenOnDynamoDB(t *testing.T) {
	srv := dynamotest.Start(t)
	bin := buildBinary(t)
	env := append(os.Environ(),
		"AWS_ENDPOINT_URL_DYNAMODB="+srv.Endpoint(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "SCIMGATE_DYNAMODB_TABLE=scimgate-cli")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	run("table", "create")
	run("table", "create") // idempotent
	if tok := strings.TrimSpace(run("token", "create", "--tenant", "acme", "--sso", "okta")); !strings.HasPrefix(tok, "scimgate_") {
		t.Fatalf("token %q", tok)
	}
}

// TestDemoConnectionIsOptInAndShortLived: serve creates no credential nobody
// asked for. Only --demo creates demo/okta, with a token that expires within
// a day, and never when the server looks like production (a public URL or an
// admin token).
func TestDemoConnectionIsOptInAndShortLived(t *testing.T) {
	bin := buildBinary(t)
	adminFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(adminFile, []byte("3f9c2a7b1d04e5f60718293a4b5c6d7e"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"no --demo", nil},
		{"--demo with --public-url", []string{"--demo", "--public-url", "https://scim.example.com"}},
		{"--demo with an admin token", []string{"--demo", "--admin-token-file", adminFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "scimgate.db")
			if banner := startServe(t, bin, data, tc.flags...).banner; tokenLine.MatchString(banner) {
				t.Fatalf("serve %v printed a demo token:\n%s", tc.flags, banner)
			}
			out, _ := exec.Command(bin, "connection", "list", "--json", "--data", data).Output()
			if strings.Contains(string(out), `"demo"`) {
				t.Fatalf("serve %v created the demo connection: %s", tc.flags, out)
			}
		})
	}

	data := filepath.Join(t.TempDir(), "scimgate.db")
	started := time.Now()
	if banner := startServe(t, bin, data, "--demo").banner; !tokenLine.MatchString(banner) {
		t.Fatalf("serve --demo printed no demo token:\n%s", banner)
	}
	out, err := exec.Command(bin, "token", "list", "--tenant", "demo", "--sso", "okta", "--json", "--data", data).Output()
	if err != nil {
		t.Fatalf("token list: %v", err)
	}
	var tokens []struct {
		Expires *time.Time `json:"expires"`
	}
	if err := json.Unmarshal(out, &tokens); err != nil || len(tokens) != 1 {
		t.Fatalf("token list --json: %v, %s", err, out)
	}
	if exp := tokens[0].Expires; exp == nil || exp.After(started.Add(demoTokenLifetime+time.Minute)) || demoTokenLifetime > 24*time.Hour {
		t.Fatalf("the demo token expires at %v; want within %s of start, at most a day", exp, demoTokenLifetime)
	}
}

// TestServeRefusesAWeakAdminToken: a 1-character admin token used to open
// the admin API; serve now refuses to start with one, and says why.
func TestServeRefusesAWeakAdminToken(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(file, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  string
	}{
		{[]string{"--admin-token-file", file}, ""},
		{nil, "SCIMGATE_ADMIN_TOKEN=x"},
	} {
		cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "scimgate.db")}, tc.args...)...)
		cmd.Env = append(os.Environ(), tc.env)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(stderr.String(), "at least 32") {
				t.Errorf("serve %v %s: %v\n%s", tc.args, tc.env, err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("serve %v %s started with a 1-character admin token", tc.args, tc.env)
		}
	}
}

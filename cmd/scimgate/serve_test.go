package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeFinishesInFlightRequestOnSIGTERM: a request in flight when
// SIGTERM arrives completes with its answer; the server stops accepting new
// connections at once and exits 0 once the request is done.
func TestServeFinishesInFlightRequestOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	srv := startServe(t, bin, filepath.Join(t.TempDir(), "scimgate.db"), "--request-timeout", "20s", "--demo")
	token := tokenLine.FindStringSubmatch(srv.banner)
	if token == nil {
		t.Fatalf("no demo token in the banner:\n%s", srv.banner)
	}

	// A slow client: headers and half of the body now, the rest after SIGTERM.
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"slow@example.com"}`
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /scim/v2/demo/okta/Users HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n%s", srv.addr, token[1], len(body), body[:20])
	time.Sleep(300 * time.Millisecond) // the server has read the headers: the request is in flight

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused once shutdown has begun.
	refused := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", srv.addr, time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Fatal("the server still accepts connections 10 s after SIGTERM")
	}
	select {
	case err := <-srv.done:
		t.Fatalf("serve exited (%v) with a request in flight", err)
	default:
	}

	if _, err := fmt.Fprint(conn, body[20:]); err != nil {
		t.Fatalf("finish the body: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight POST /Users = %d, want 201", resp.StatusCode)
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM; want exit 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit after its last request finished")
	}
}

// TestBannerCommandWorksAsPrinted runs the token-create command the demo
// banner prints, as printed (with the binary's own path).
func TestBannerCommandWorksAsPrinted(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	srv := startServe(t, bin, filepath.Join(dir, "scimgate.db"), "--demo")
	var printed string
	for _, line := range strings.Split(srv.banner, "\n") {
		if strings.Contains(line, " token create ") {
			printed = strings.TrimSpace(line)
		}
	}
	if printed == "" || !strings.Contains(printed, "--data ") {
		t.Fatalf("the banner names no token create command with --data:\n%s", srv.banner)
	}
	out, err := exec.Command("sh", "-c", printed).Output()
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(out)), "scimgate_") {
		t.Fatalf("%s: %v, %q", printed, err, out)
	}
	if status := get(t, "http://"+srv.addr+"/scim/v2/demo/okta/Users", strings.TrimSpace(string(out))); status != http.StatusOK {
		t.Fatalf("the token it created: GET /Users = %d", status)
	}
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/events"
)

// TestServeWebhookShortcutAndStoredEndpoints: serve --webhook-url keeps
// working as one stored endpoint (wh_serve), and an endpoint created with
// the CLI while serve runs receives the same records, each signed with its
// own secret.
func TestServeWebhookShortcutAndStoredEndpoints(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "scimgate.db")
	var mu sync.Mutex
	got := map[string][]*http.Request{}
	bodies := map[string][][]byte{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] = append(got[r.URL.Path], r)
		bodies[r.URL.Path] = append(bodies[r.URL.Path], b)
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer recv.Close()
	flagSecret := "whsec_" + strings.Repeat("QUJD", 8)
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(flagSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "webhook", "create", "--url", recv.URL+"/stored", "--json", "--data", data).Output()
	if err != nil {
		t.Fatal(err)
	}
	storedSecret := jsonField(t, out, "secret")
	srv := startServe(t, bin, data, "--demo", "--webhook-url", recv.URL+"/flag", "--webhook-secret-file", secretFile)
	// The demo connection's records were written at serve's start, after
	// both endpoints existed or were created: both receive them.
	for _, tc := range []struct{ path, secret string }{{"/flag", flagSecret}, {"/stored", storedSecret}} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(got[tc.path])
			mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s received nothing\n%s", tc.path, srv.banner)
			}
			time.Sleep(50 * time.Millisecond)
		}
		s, err := events.ParseSecret(tc.secret)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		r, b := got[tc.path][0], bodies[tc.path][0]
		mu.Unlock()
		if err := (events.Verifier{Secret: s}).Verify(r.Header, b); err != nil {
			t.Errorf("%s: %v", tc.path, err)
		}
	}
	list, err := exec.Command(bin, "webhook", "list", "--data", data).Output()
	if err != nil || !strings.Contains(string(list), "wh_serve") {
		t.Fatalf("webhook list: %v\n%s", err, list)
	}
}

func jsonField(t *testing.T, doc []byte, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("not JSON: %s", doc)
	}
	s, _ := m[key].(string)
	return s
}

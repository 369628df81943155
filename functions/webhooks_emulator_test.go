package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/localrun"
	"github.com/scimgate/scimgate/pkg/events"
)

// TestWebhooksUnderEmulator runs WebhooksFunction's real bootstrap under
// the Lambda emulator against moto: two endpoints made with the CLI, one
// answering 200 and one refusing, both replayed from the oldest record.
// The live one gets every record, in order and verifiably signed, while
// the other fails; once the failing one answers 200, the next scheduled run
// delivers to it too, and the delivery log shows both stories.
func TestWebhooksUnderEmulator(t *testing.T) {
	rie := requireRIE(t)
	srv := moto.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const table = "scimgate-webhooks-emulator"
	cli := builtCLI(t, ctx)
	env := localrun.FunctionEnv(srv.Endpoint(), table)
	if err := localrun.Seed(ctx, cli, env); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env = env
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("scimgate %v: %v\n%s", args, err, stderr.String())
		}
		return out.String()
	}
	type hit struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	hits := map[string][]hit{}
	refuse := true
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		hits[r.URL.Path] = append(hits[r.URL.Path], hit{r.Header.Clone(), body})
		if r.URL.Path == "/flaky" && refuse {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	type created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	create := func(path string) created {
		var c created
		if err := json.Unmarshal([]byte(run("webhook", "create", "--url", recv.URL+path, "--json")), &c); err != nil {
			t.Fatal(err)
		}
		run("webhook", "replay", "--id", c.ID)
		return c
	}
	live, flaky := create("/live"), create("/flaky")

	bootstrap := builtBootstrap(t, ctx, "webhooks")
	// The table's feed holds back records younger than its settle window
	// (5 s): a run of 8 s sees the seed's records.
	emu, err := localrun.StartEmulator(ctx, rie, bootstrap, append(slicesClone(env),
		"AWS_LAMBDA_FUNCTION_NAME=WebhooksFunction", "AWS_LAMBDA_FUNCTION_TIMEOUT=60", "SCIMGATE_WEBHOOK_RUN_FOR=8s"))
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Stop()
	scheduled := []byte(`{"version":"0","id":"e","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`)
	invoke := func() {
		t.Helper()
		payload, err := emu.Invoke(ctx, scheduled)
		if err != nil || !strings.Contains(string(payload), `"complete":true`) {
			t.Fatalf("scheduled invocation: %v, %s\n--- emulator output:\n%s", err, payload, emu.Logs())
		}
	}
	invoke()

	mu.Lock()
	liveHits, flakyHits := hits["/live"], len(hits["/flaky"])
	mu.Unlock()
	secret, err := events.ParseSecret(live.Secret)
	if err != nil {
		t.Fatal(err)
	}
	// The seed's token create wrote the connection's first record(s).
	if len(liveHits) == 0 {
		t.Fatalf("live endpoint got %d deliveries, want the seed's records\n%s", len(liveHits), emu.Logs())
	}
	var ids []string
	for _, h := range liveHits {
		if err := (events.Verifier{Secret: secret}).Verify(h.header, h.body); err != nil {
			t.Errorf("delivery %s does not verify: %v", h.header.Get(events.HeaderID), err)
		}
		ids = append(ids, h.header.Get(events.HeaderID))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Errorf("live deliveries out of order: %v", ids)
		}
	}
	if flakyHits == 0 {
		t.Fatal("the refusing endpoint was never tried")
	}

	// The failing endpoint recovers: the next run delivers to it.
	mu.Lock()
	refuse = false
	mu.Unlock()
	invoke()
	log := run("webhook", "deliveries", "--id", flaky.ID, "--json")
	var delivered, refused int
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var a map[string]any
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("deliveries line %q: %v", line, err)
		}
		for _, k := range []string{"record_id", "attempt", "status", "latency_ms", "error", "time"} {
			if _, ok := a[k]; !ok {
				t.Fatalf("deliveries line without %s: %s", k, line)
			}
		}
		switch a["status"] {
		case float64(503):
			refused++
		case float64(204):
			delivered++
		}
	}
	if refused == 0 || delivered < len(ids) {
		t.Fatalf("flaky endpoint's log: %d refused, %d delivered (want >0 and >= %d):\n%s", refused, delivered, len(ids), log)
	}
}

package events_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
	"github.com/scimgate/scimgate/pkg/events"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func testSecret(t *testing.T) events.Secret {
	t.Helper()
	s, err := events.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// records makes n user records of conn, ids in time order.
func records(conn changes.Conn, n int, gen changes.IDGenerator) []changes.Record {
	var out []changes.Record
	for i := 0; i < n; i++ {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		id := fmt.Sprintf("user-%d", i)
		out = append(out, changes.Record{
			ID: gen(at), Type: changes.UserUpdated, Tenant: conn.Tenant, SSO: conn.SSO, ResourceType: "User",
			ResourceID: id, Version: int64(i + 2), Time: at, RequestID: "r", Actor: changes.TokenActor("t1"),
			Changed:  []string{"title"},
			Data:     json.RawMessage(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":%q,"meta":{"resourceType":"User","version":"W/\"%d\""}}`, id, i+2)),
			Previous: map[string]any{"title": nil}, Current: map[string]any{"title": "Engineer"},
		})
	}
	return out
}

// receiver is a webhook endpoint that verifies every delivery and can be
// told to fail.
type receiver struct {
	t        *testing.T
	verifier events.Verifier

	mu       sync.Mutex
	failNext int // answer 503 to that many requests first
	attempts int
	got      []changes.Record // accepted, in arrival order
	gotAt    []time.Time
	onAccept func(n int)
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := rv.verifier.Verify(r.Header, body); err != nil {
		rv.t.Errorf("delivery %s: %v", r.Header.Get(events.HeaderID), err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if err := changestest.ValidateJSON(body); err != nil {
		rv.t.Errorf("delivered body does not match the schema: %v", err)
	}
	rv.mu.Lock()
	rv.attempts++
	if rv.failNext > 0 {
		rv.failNext--
		rv.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var rec changes.Record
	if err := json.Unmarshal(body, &rec); err != nil {
		rv.t.Error(err)
	}
	if rec.ID != r.Header.Get(events.HeaderID) {
		rv.t.Errorf("webhook-id %q is not the record id %q", r.Header.Get(events.HeaderID), rec.ID)
	}
	rv.got = append(rv.got, rec)
	rv.gotAt = append(rv.gotAt, time.Now())
	n, hook := len(rv.got), rv.onAccept
	rv.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	if hook != nil {
		hook(n)
	}
}

func (rv *receiver) ids() []string {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	var out []string
	for _, r := range rv.got {
		out = append(out, r.ID)
	}
	return out
}

func newDeliverer(t *testing.T, url string, feed *changestest.Memory) *events.Deliverer {
	t.Helper()
	d, err := events.NewDeliverer(events.WebhookConfig{
		URL: url, Secret: testSecret(t), Feed: feed, Cursors: feed, Connections: feed.FeedConnections,
		PollInterval: 5 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func idsOf(rs []changes.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// TestWebhookRetriesAFailingReceiverInOrder: a receiver that fails 3 times
// gets the first record on the 4th attempt, after growing waits, and the
// later records only after it, in order.
func TestWebhookRetriesAFailingReceiverInOrder(t *testing.T) {
	conn := changes.Conn{Tenant: "acme", SSO: "okta"}
	feed := &changestest.Memory{}
	want := records(conn, 5, changes.NewIDGenerator(nil))
	feed.Append(want...)
	rv := &receiver{t: t, verifier: events.Verifier{Secret: testSecret(t)}, failNext: 3}
	srv := httptest.NewServer(rv)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	go func() { newDeliverer(t, srv.URL, feed).Run(ctx); close(done) }()
	// The cursor is saved after each delivery is acknowledged: wait for both,
	// or the stop could land between the last answer and its cursor.
	waitFor(t, "5 deliveries and their cursor", func() bool {
		c, _ := feed.LoadCursor(context.Background(), events.DefaultConsumer, conn)
		return len(rv.ids()) == 5 && c == want[4].ID
	})
	cancel()
	<-done

	if got := rv.ids(); !slices.Equal(got, idsOf(want)) {
		t.Errorf("delivered %v, want %v in order", got, idsOf(want))
	}
	if rv.attempts != 8 {
		t.Errorf("%d attempts, want 3 failures + 5 successes", rv.attempts)
	}
	// Backoff 20, 40, 80 ms drawn in their upper halves: at least 70 ms before the first success.
	if first := rv.gotAt[0].Sub(start); first < 70*time.Millisecond {
		t.Errorf("first success after %v: the retries did not back off", first)
	}
	if c, _ := feed.LoadCursor(ctx, events.DefaultConsumer, conn); c != want[4].ID {
		t.Errorf("cursor %q, want the last record %q", c, want[4].ID)
	}
}

// TestWebhookResumesAfterRestart: the deliverer is stopped mid-stream and a
// new one (a restarted server on the same store) continues from the stored
// cursor: every record arrives, in order, and at most the one in flight at
// the stop twice.
func TestWebhookResumesAfterRestart(t *testing.T) {
	conn := changes.Conn{Tenant: "acme", SSO: "okta"}
	other := changes.Conn{Tenant: "acme", SSO: "entra"}
	feed := &changestest.Memory{}
	gen := changes.NewIDGenerator(nil)
	want := records(conn, 20, gen)
	feed.Append(want[:10]...)
	feed.Append(records(other, 3, gen)...)
	feed.Append(want[10:]...)

	ctx1, stop := context.WithCancel(context.Background())
	rv := &receiver{t: t, verifier: events.Verifier{Secret: testSecret(t)}}
	rv.onAccept = func(n int) {
		if n == 7 {
			stop() // the server stops while records are still pending
		}
	}
	srv := httptest.NewServer(rv)
	defer srv.Close()
	newDeliverer(t, srv.URL, feed).Run(ctx1)
	firstRun := len(rv.ids())
	if firstRun >= 23 {
		t.Fatalf("the first run delivered everything (%d); the test did not stop it mid-stream", firstRun)
	}

	ctx2, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { newDeliverer(t, srv.URL, feed).Run(ctx2); close(done) }()
	waitFor(t, "every record", func() bool {
		got := rv.ids()
		return len(slices.Compact(slices.Clone(got))) >= 23 || len(got) >= 25
	})
	cancel()
	<-done

	var mine []string
	seen := map[string]int{}
	for _, r := range rv.got {
		seen[r.ID]++
		if r.SSO == conn.SSO {
			mine = append(mine, r.ID)
		}
	}
	for id, n := range seen {
		if n > 2 {
			t.Errorf("record %s delivered %d times", id, n)
		}
	}
	if got := slices.Compact(mine); !slices.Equal(got, idsOf(want)) {
		t.Errorf("connection's records %v, want all of %v in order", got, idsOf(want))
	}
	if len(seen) != 23 {
		t.Errorf("%d distinct records delivered, want 23", len(seen))
	}
}

// TestWebhookNeverWaitsForTheReceiver: with a receiver that hangs, records
// keep being appended (what SCIM requests do) without waiting, and
// stopping the deliverer ends its in-flight request.
func TestWebhookNeverWaitsForTheReceiver(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	conn := changes.Conn{Tenant: "acme", SSO: "okta"}
	feed := &changestest.Memory{}
	gen := changes.NewIDGenerator(nil)
	feed.Append(records(conn, 1, gen)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { newDeliverer(t, srv.URL, feed).Run(ctx); close(done) }()
	for i := 0; i < 100; i++ {
		feed.Append(records(conn, 1, gen)...)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the deliverer did not stop while its receiver hung")
	}
	if c, _ := feed.LoadCursor(context.Background(), events.DefaultConsumer, conn); c != "" {
		t.Errorf("cursor moved to %q without a successful delivery", c)
	}
}

func TestSignatureIsStandardWebhooks(t *testing.T) {
	// The example of the Standard Webhooks reference libraries' tests:
	// secret, id, timestamp and payload, and the signature they expect.
	secret, err := events.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := secret.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
	v := events.Verifier{Secret: secret, Now: func() time.Time { return time.Unix(1614265330, 0) }}
	h := http.Header{}
	secret.SetHeaders(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err := v.Verify(h, []byte(`{"test": 2432232314}`)); err != nil {
		t.Errorf("own signature: %v", err)
	}
	tests := []struct {
		name string
		edit func(h http.Header) []byte
		want error
	}{
		{"body changed", func(h http.Header) []byte { return []byte(`{"test": 2432232315}`) }, events.ErrNoValidSignature},
		{"id changed", func(h http.Header) []byte { h.Set(events.HeaderID, "msg_other"); return nil }, events.ErrNoValidSignature},
		{"old timestamp", func(h http.Header) []byte {
			h.Set(events.HeaderTimestamp, "1614264000")
			return nil
		}, events.ErrStaleTimestamp},
		{"no signature", func(h http.Header) []byte { h.Del(events.HeaderSignature); return nil }, events.ErrMissingHeaders},
		{"rotation: second signature valid", func(h http.Header) []byte {
			h.Set(events.HeaderSignature, "v1,bm90IGl0 "+h.Get(events.HeaderSignature))
			return nil
		}, nil},
	}
	for _, tt := range tests {
		h := h.Clone()
		body := tt.edit(h)
		if body == nil {
			body = []byte(`{"test": 2432232314}`)
		}
		if err := v.Verify(h, body); err != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestParseSecret(t *testing.T) {
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := events.ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
	s, err := events.ParseSecret("  whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
	if err != nil || !strings.HasPrefix(s.String(), "whsec_MfKQ") {
		t.Errorf("ParseSecret with a file's newline: %v, %v", s, err)
	}
}

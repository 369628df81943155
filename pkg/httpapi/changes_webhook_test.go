package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/events"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/webhooks"
)

// deliverByWebhook runs the webhook delivery engine on st, for one endpoint
// replaying from the oldest record, until the receiver has n records,
// verifying each delivery's signature, and returns them in arrival order.
func deliverByWebhook(t *testing.T, st stores, conn scim.Connection, n int) []changes.Record {
	t.Helper()
	hooks, ok := st.resources.(webhooks.Store)
	if !ok {
		t.Fatalf("the store keeps no webhook endpoints")
	}
	svc := &webhooks.Service{Store: hooks}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var verifier events.Verifier // set once the endpoint exists, before the engine starts
	var mu sync.Mutex
	var got []changes.Record
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifier.Verify(r.Header, body); err != nil {
			t.Errorf("delivery %s: %v", r.Header.Get(events.HeaderID), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var rec changes.Record
		if err := json.Unmarshal(body, &rec); err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, rec)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	conns := []webhooks.Conn{{Tenant: conn.Tenant, SSO: conn.SSO}}
	ep, err := svc.Create(ctx, webhooks.Input{URL: &rcv.URL, Connections: &conns})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := events.ParseSecret(ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	verifier = events.Verifier{Secret: secret}
	// A new endpoint starts at its creation; the records were written
	// before it, so they come by replay from the oldest.
	if _, err := svc.Replay(ctx, ep.ID, ""); err != nil {
		t.Fatal(err)
	}
	feed, _ := st.resources.(changes.Feed)
	engine, err := webhooks.NewEngine(webhooks.EngineConfig{
		Store: hooks, Feed: feed, PollInterval: 10 * time.Millisecond,
		Connections: func(context.Context) ([]changes.Conn, error) {
			return []changes.Conn{{Tenant: conn.Tenant, SSO: conn.SSO}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { engine.Run(ctx); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		have := len(got)
		mu.Unlock()
		if have >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return got
}

package httpapi_test

import (
	"context"
	"encoding/base64"
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
)

// deliverByWebhook runs the webhook deliverer on st until the receiver has
// n records, verifying each delivery's signature, and returns them in
// arrival order.
func deliverByWebhook(t *testing.T, st stores, conn scim.Connection, n int) []changes.Record {
	t.Helper()
	secret, err := events.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte("a webhook secret of 32 bytes...!")))
	if err != nil {
		t.Fatal(err)
	}
	verifier := events.Verifier{Secret: secret}
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
	feed, _ := st.resources.(changes.Feed)
	cursors, _ := st.resources.(changes.Cursors)
	d, err := events.NewDeliverer(events.WebhookConfig{
		URL: rcv.URL, Secret: secret, Feed: feed, Cursors: cursors, PollInterval: 10 * time.Millisecond,
		Connections: func(context.Context) ([]changes.Conn, error) {
			return []changes.Conn{{Tenant: conn.Tenant, SSO: conn.SSO}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
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

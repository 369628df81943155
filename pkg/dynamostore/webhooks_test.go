package dynamostore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/storetest"
	"github.com/scimgate/scimgate/pkg/webhooks"
)

func TestWebhooksContract(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore { return newEnv(t).store })
}

// TestWebhookDeliveryCost: the cost docs/events.md states ("Cost per
// delivery"): per record delivered at the first attempt, two UpdateItems
// (log, position); per page, two GetItems (endpoint, position) and the
// feed's Query. Counted in calls, never time.
func TestWebhookDeliveryCost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer recv.Close()
	base := time.Now().UTC().Add(-time.Hour)
	svc := &webhooks.Service{Store: e.store, Now: func() time.Time { return base.Add(-time.Minute) }}
	url := recv.URL
	ep, err := svc.Create(ctx, webhooks.Input{URL: &url})
	if err != nil {
		t.Fatal(err)
	}
	gen := changes.NewIDGenerator(nil)
	const n = 10
	var recs []changes.Record
	for i := 0; i < n; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		recs = append(recs, changes.Record{ID: gen(at), Type: changes.UserCreated, Tenant: "acme", SSO: "okta", ResourceType: "User",
			ResourceID: fmt.Sprintf("u%d", i), Version: 1, Time: at, Actor: changes.TokenActor("t"), Data: json.RawMessage(`{"id":"u"}`)})
	}
	if err := e.store.AppendChanges(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	engine, err := webhooks.NewEngine(webhooks.EngineConfig{Store: e.store, Feed: e.store,
		Connections: func(context.Context) ([]changes.Conn, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	e.counter.Reset()
	if got, err := engine.DeliverLane(ctx, ep.ID, changes.Conn{Tenant: "acme", SSO: "okta"}); err != nil || got != n {
		t.Fatalf("DeliverLane = %d, %v", got, err)
	}
	want := map[string]int{"GetItem": 2, "Query": 1, "UpdateItem": 2 * n}
	if got := e.counter.Snapshot(); !maps.Equal(got, want) {
		t.Fatalf("calls for %d records = %v, want %v", n, got, want)
	}
}

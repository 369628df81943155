package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/events"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/webhooks"
)

// WebhookStore is a store as the webhook contract drives it: its webhook
// items and its change feed.
type WebhookStore interface {
	webhooks.Store
	FeedStore
}

// receiver is a webhook receiver whose answer the test switches.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	status  int        // answered status; 0 hangs until release closes
	hits    []delivery // every request, in arrival order
	onHit   func(int)  // called after each request with the status answered
	release chan struct{}
}

type delivery struct {
	id     string
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	r := &receiver{t: t, status: status, release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		st, onHit := r.status, r.onHit
		r.hits = append(r.hits, delivery{id: req.Header.Get(events.HeaderID), header: req.Header.Clone(), body: body, status: st})
		r.mu.Unlock()
		if onHit != nil {
			onHit(st)
		}
		if st == 0 {
			select {
			case <-r.release:
			case <-req.Context().Done():
			}
			return
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(func() { close(r.release); r.srv.Close() })
	return r
}

func (r *receiver) set(status int) { r.mu.Lock(); r.status = status; r.mu.Unlock() }

func (r *receiver) snapshot() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hits)
}

// accepted lists the ids answered 2xx, in order.
func (r *receiver) accepted() []string {
	var out []string
	for _, d := range r.snapshot() {
		if d.status/100 == 2 {
			out = append(out, d.id)
		}
	}
	return out
}

// waitFor polls cond until it holds or a generous cap passes: it asserts
// what happens, never how fast.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var webhookConn atomic.Int64

// RunWebhooks is the contract of the webhook items and, on top of them,
// of the delivery engine: both stores must pass it alike.
func RunWebhooks(t *testing.T, newStore func(t *testing.T) WebhookStore) {
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	gen := changes.NewIDGenerator(nil)
	newConn := func() changes.Conn {
		return changes.Conn{Tenant: "hooks", SSO: fmt.Sprintf("c%d", webhookConn.Add(1))}
	}
	// records appends n records of c, a second apart from at.
	records := func(t *testing.T, s WebhookStore, c changes.Conn, at time.Time, typ changes.Type, n int) []string {
		t.Helper()
		var recs []changes.Record
		var ids []string
		for i := 0; i < n; i++ {
			tm := at.Add(time.Duration(i) * time.Second)
			r := changes.Record{ID: gen(tm), Type: typ, Tenant: c.Tenant, SSO: c.SSO, ResourceType: "User",
				ResourceID: fmt.Sprintf("u%d", i), Version: 1, Time: tm, Actor: changes.TokenActor("t"),
				Data: json.RawMessage(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u%d","meta":{"resourceType":"User","version":"W/\"1\""}}`, i))}
			if typ == changes.UserUpdated {
				r.Changed = []string{"active"}
			}
			recs = append(recs, r)
			ids = append(ids, r.ID)
		}
		if err := s.AppendChanges(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	// setup: a store, a connection, a service whose endpoints were created
	// before base (so that they receive the records written at base).
	type fixture struct {
		s     WebhookStore
		c     changes.Conn
		svc   *webhooks.Service
		clock *fakeClock
	}
	setup := func(t *testing.T) fixture {
		t.Helper()
		clock := &fakeClock{now: base.Add(-time.Minute)}
		s := newStore(t)
		return fixture{s: s, c: newConn(), clock: clock, svc: &webhooks.Service{Store: s, Now: clock.Now}}
	}
	create := func(t *testing.T, f fixture, url string) *webhooks.WithSecret {
		t.Helper()
		conns := []webhooks.Conn{{Tenant: f.c.Tenant, SSO: f.c.SSO}}
		ep, err := f.svc.Create(ctx, webhooks.Input{URL: &url, Connections: &conns})
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	engine := func(t *testing.T, f fixture, cfg webhooks.EngineConfig) *webhooks.Engine {
		t.Helper()
		cfg.Store, cfg.Feed = f.s, f.s
		cfg.Connections = func(context.Context) ([]changes.Conn, error) { return []changes.Conn{f.c}, nil }
		if cfg.Now == nil {
			cfg.Now = time.Now
		}
		if cfg.BackoffBase == 0 {
			cfg.BackoffBase = time.Millisecond
			cfg.BackoffMax = 5 * time.Millisecond
		}
		if cfg.PollInterval == 0 {
			cfg.PollInterval = 20 * time.Millisecond
		}
		e, err := webhooks.NewEngine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	run := func(t *testing.T, e *webhooks.Engine) {
		t.Helper()
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { e.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}

	t.Run("Items", func(t *testing.T) {
		s := newStore(t)
		part := fmt.Sprintf("contract%d", webhookConn.Add(1))
		if _, err := s.GetWebhookItem(ctx, part, "a"); scim.ErrorCodeOf(err) != scim.ENotFound {
			t.Fatalf("get missing: %v, want not_found", err)
		}
		exp := base.Add(time.Hour).Truncate(time.Second)
		for _, k := range []string{"log/2", "dl/1", "log/1", "log/3", "pos/x", "log"} {
			it := webhooks.Item{Key: k, Body: []byte("v-" + k)}
			if strings.HasPrefix(k, "log/") {
				it.Expires = exp
			}
			if err := s.PutWebhookItem(ctx, part, it); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutWebhookItem(ctx, part, webhooks.Item{Key: "pos/x", Body: []byte("v2")}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetWebhookItem(ctx, part, "pos/x")
		if err != nil || string(got.Body) != "v2" || !got.Expires.IsZero() {
			t.Fatalf("replaced item = %+v, %v", got, err)
		}
		keys := func(prefix, after string, limit int) []string {
			t.Helper()
			items, err := s.ListWebhookItems(ctx, part, prefix, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, it := range items {
				out = append(out, it.Key)
				if strings.HasPrefix(it.Key, "log/") && !it.Expires.Equal(exp) {
					t.Errorf("%s expires %v, want %v", it.Key, it.Expires, exp)
				}
			}
			return out
		}
		for _, tc := range []struct {
			prefix, after string
			limit         int
			want          []string
		}{
			{"log/", "", 10, []string{"log/1", "log/2", "log/3"}},
			{"log/", "log/1", 10, []string{"log/2", "log/3"}},
			{"log/", "", 2, []string{"log/1", "log/2"}},
			{"", "", 10, []string{"dl/1", "log", "log/1", "log/2", "log/3", "pos/x"}},
			{"dl/", "", 10, []string{"dl/1"}},
			{"none/", "", 10, nil},
		} {
			if got := keys(tc.prefix, tc.after, tc.limit); !slices.Equal(got, tc.want) {
				t.Errorf("list %q after %q limit %d = %v, want %v", tc.prefix, tc.after, tc.limit, got, tc.want)
			}
		}
		if err := s.DeleteWebhookItem(ctx, part, "log/2"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWebhookItem(ctx, part, "missing"); err != nil {
			t.Fatalf("delete missing: %v", err)
		}
		if got := keys("log/", "", 10); !slices.Equal(got, []string{"log/1", "log/3"}) {
			t.Errorf("after delete: %v", got)
		}
	})

	t.Run("EndpointLifecycle", func(t *testing.T) {
		f := setup(t)
		ep := create(t, f, "https://hooks.example.com/in")
		if !strings.HasPrefix(ep.Secret, "whsec_") || !ep.Enabled {
			t.Fatalf("created %+v", ep)
		}
		if _, err := events.ParseSecret(ep.Secret); err != nil {
			t.Fatal(err)
		}
		bad := []string{"group.nope*"}
		if _, err := f.svc.Update(ctx, ep.ID, webhooks.Input{Types: &bad}); scim.ErrorCodeOf(err) != scim.EInvalidValue {
			t.Fatalf("bad types: %v", err)
		}
		types, off := []string{"group.*", "user.deleted"}, false
		up, err := f.svc.Update(ctx, ep.ID, webhooks.Input{Types: &types, Enabled: &off})
		if err != nil || up.Enabled || !slices.Equal(up.Types, types) || up.URL != ep.URL {
			t.Fatalf("update = %+v, %v", up, err)
		}
		if !up.Wants(changes.GroupMembersAdded) || !up.Wants(changes.UserDeleted) || up.Wants(changes.UserCreated) {
			t.Fatalf("type patterns: %+v", up.Types)
		}
		list, err := f.svc.List(ctx)
		if err != nil || !slices.ContainsFunc(list, func(e webhooks.Endpoint) bool { return e.ID == ep.ID }) {
			t.Fatalf("list = %v, %v", list, err)
		}
		if b, _ := json.Marshal(list); strings.Contains(string(b), ep.Secret) {
			t.Fatal("list shows the secret")
		}
		if err := f.svc.Delete(ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Get(ctx, ep.ID); scim.ErrorCodeOf(err) != scim.ENotFound {
			t.Fatalf("get deleted: %v", err)
		}
		if err := f.svc.Delete(ctx, ep.ID); scim.ErrorCodeOf(err) != scim.ENotFound {
			t.Fatalf("delete twice: %v", err)
		}
	})

	t.Run("SignatureRotationOverlap", func(t *testing.T) {
		f := setup(t)
		recv := newReceiver(t, 200)
		f.svc.SecretOverlap = time.Hour
		ep := create(t, f, recv.srv.URL)
		oldSecret, _ := events.ParseSecret(ep.Secret)
		f.clock.now = base
		rot, err := f.svc.RotateSecret(ctx, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rot.Secret == ep.Secret || rot.PreviousSecretExpires == nil || !rot.PreviousSecretExpires.Equal(base.Add(time.Hour)) {
			t.Fatalf("rotated %+v", rot)
		}
		newSecret, _ := events.ParseSecret(rot.Secret)
		ids := records(t, f.s, f.c, base, changes.UserCreated, 2)
		e := engine(t, f, webhooks.EngineConfig{Now: f.clock.Now})
		verify := func(d delivery, s events.Secret) error {
			return events.Verifier{Secret: s, Now: f.clock.Now}.Verify(d.header, d.body)
		}
		// During the overlap: both signatures, each verifies on its own.
		f.clock.now = base.Add(30 * time.Minute)
		if _, err := e.DeliverLane(ctx, ep.ID, f.c); err != nil {
			t.Fatal(err)
		}
		hits := recv.snapshot()
		if len(hits) != 2 || hits[0].id != ids[0] {
			t.Fatalf("deliveries %v, want %v", hits, ids)
		}
		if n := len(strings.Fields(hits[0].header.Get(events.HeaderSignature))); n != 2 {
			t.Fatalf("%d signatures during the overlap, want 2", n)
		}
		if err := verify(hits[0], oldSecret); err != nil {
			t.Errorf("old secret during overlap: %v", err)
		}
		if err := verify(hits[0], newSecret); err != nil {
			t.Errorf("new secret during overlap: %v", err)
		}
		// After it: only the new secret signs.
		f.clock.now = base.Add(2 * time.Hour)
		if _, err := f.svc.Replay(ctx, ep.ID, ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeliverLane(ctx, ep.ID, f.c); err != nil {
			t.Fatal(err)
		}
		hits = recv.snapshot()
		last := hits[len(hits)-1]
		if last.id != ids[1] || len(strings.Fields(last.header.Get(events.HeaderSignature))) != 1 {
			t.Fatalf("after the overlap: %s with %q", last.id, last.header.Get(events.HeaderSignature))
		}
		if err := verify(last, newSecret); err != nil {
			t.Errorf("new secret after overlap: %v", err)
		}
		if err := verify(last, oldSecret); err == nil {
			t.Error("the old secret still verifies after the overlap")
		}
	})

	t.Run("DeadEndpointDoesNotDelayAnother", func(t *testing.T) {
		f := setup(t)
		dead, live := newReceiver(t, 0), newReceiver(t, 204) // dead: hangs on every request
		deadEp, liveEp := create(t, f, dead.srv.URL), create(t, f, live.srv.URL)
		ids := records(t, f.s, f.c, base, changes.UserCreated, 5)
		run(t, engine(t, f, webhooks.EngineConfig{RequestTimeout: time.Hour}))
		waitFor(t, "the live endpoint to get every record", func() bool { return len(live.accepted()) == len(ids) })
		if got := live.accepted(); !slices.Equal(got, ids) {
			t.Fatalf("live endpoint got %v, want %v in order", got, ids)
		}
		if hits := dead.snapshot(); len(hits) != 1 || hits[0].id != ids[0] {
			t.Fatalf("dead endpoint saw %d requests, want the first record, still hanging", len(hits))
		}
		// The receiver counts a delivery before the engine logs it.
		var log []webhooks.Attempt
		var err error
		waitFor(t, "the log of every delivery", func() bool {
			log, _, err = f.svc.Deliveries(ctx, liveEp.ID, "", 100)
			return err != nil || len(log) >= len(ids)
		})
		if err != nil || len(log) != len(ids) || log[0].RecordID != ids[0] || log[0].Status != 204 || log[0].Attempt != 1 {
			t.Fatalf("live log = %+v, %v", log, err)
		}
		_ = deadEp
	})

	t.Run("DeadLetterAfterTheBound", func(t *testing.T) {
		f := setup(t)
		recv := newReceiver(t, 503)
		ep := create(t, f, recv.srv.URL)
		engineClock := &fakeClock{now: base}
		// Each refusal moves the engine's clock 10 minutes: the bound of one
		// hour passes after six attempts, with no real waiting.
		recv.onHit = func(int) { engineClock.Add(10 * time.Minute) }
		ids := records(t, f.s, f.c, base, changes.UserCreated, 2)
		e := engine(t, f, webhooks.EngineConfig{Now: engineClock.Now, RetryBound: time.Hour, ProbeInterval: time.Hour})
		n, err := e.DeliverLane(ctx, ep.ID, f.c)
		if err != nil || n != 2 {
			t.Fatalf("DeliverLane = %d, %v", n, err)
		}
		dls, err := f.svc.DeadLetters(ctx, ep.ID)
		if err != nil || len(dls) != 2 || dls[0].RecordID != ids[0] || dls[0].LastStatus != 503 {
			t.Fatalf("dead letters = %+v, %v", dls, err)
		}
		if dls[0].Attempts != 6 {
			t.Errorf("first record dead-lettered after %d attempts, want 6 (one hour at 10 min each)", dls[0].Attempts)
		}
		if dls[1].Attempts != 1 {
			t.Errorf("second record (already past the bound) tried %d times, want 1", dls[1].Attempts)
		}
		log, _, err := f.svc.Deliveries(ctx, ep.ID, "", 100)
		if err != nil || len(log) != 7 || log[0].Outcome != "retry" || log[5].Outcome != "dead_letter" || log[0].Error != "HTTP 503" {
			t.Fatalf("log = %+v, %v", log, err)
		}
		// Replaying the dead letters once the receiver is back.
		recv.onHit = nil
		recv.set(200)
		if _, err := f.svc.ReplayDeadLetters(ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.ReplayDeadLetters(ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		if got := recv.accepted(); !slices.Equal(got, ids) {
			t.Fatalf("replayed dead letters %v, want %v", got, ids)
		}
		if dls, _ := f.svc.DeadLetters(ctx, ep.ID); len(dls) != 0 {
			t.Fatalf("dead letters left after replay: %v", dls)
		}
		// A second call without a new request sends nothing.
		if err := e.ReplayDeadLetters(ctx, ep.ID); err != nil || len(recv.accepted()) != 2 {
			t.Fatalf("replayed twice: %v", err)
		}
	})

	t.Run("ReplayFromACursor", func(t *testing.T) {
		f := setup(t)
		recv := newReceiver(t, 200)
		ep := create(t, f, recv.srv.URL)
		ids := records(t, f.s, f.c, base, changes.UserCreated, 3)
		e := engine(t, f, webhooks.EngineConfig{})
		// A replay requested before the lane first runs applies to it.
		if _, err := f.svc.Replay(ctx, ep.ID, ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeliverLane(ctx, ep.ID, f.c); err != nil {
			t.Fatal(err)
		}
		if got := recv.accepted(); !slices.Equal(got, ids[1:]) {
			t.Fatalf("first replay %v, want %v", got, ids[1:])
		}
		if _, err := f.svc.Replay(ctx, ep.ID, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeliverLane(ctx, ep.ID, f.c); err != nil {
			t.Fatal(err)
		}
		if n, err := e.DeliverLane(ctx, ep.ID, f.c); err != nil || n != 0 {
			t.Fatalf("caught up: %d, %v", n, err)
		}
		if _, err := f.svc.Replay(ctx, ep.ID, "not-an-id"); scim.ErrorCodeOf(err) != scim.EInvalidValue {
			t.Fatalf("replay bad cursor: %v", err)
		}
		if _, err := f.svc.Replay(ctx, ep.ID, ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeliverLane(ctx, ep.ID, f.c); err != nil {
			t.Fatal(err)
		}
		want := append(append(slices.Clone(ids[1:]), ids...), ids[1:]...)
		if got := recv.accepted(); !slices.Equal(got, want) {
			t.Fatalf("after replay %v, want %v", got, want)
		}
		// From the oldest kept.
		if _, err := f.svc.Replay(ctx, ep.ID, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeliverLane(ctx, ep.ID, f.c); err != nil {
			t.Fatal(err)
		}
		if got := recv.accepted(); len(got) != 10 || !slices.Equal(got[7:], ids) {
			t.Fatalf("after replay from the start %v", got)
		}
	})

	t.Run("RecoveryByProbe", func(t *testing.T) {
		f := setup(t)
		recv := newReceiver(t, 500)
		ep := create(t, f, recv.srv.URL)
		ids := records(t, f.s, f.c, base, changes.UserCreated, 2)
		// The backoff is an hour: only the probe can resume delivery.
		run(t, engine(t, f, webhooks.EngineConfig{BackoffBase: time.Hour, BackoffMax: time.Hour, ProbeInterval: 50 * time.Millisecond}))
		waitFor(t, "a probe", func() bool { return len(recv.snapshot()) >= 2 })
		recv.set(200)
		waitFor(t, "delivery to resume", func() bool { return len(recv.accepted()) >= 3 })
		got := recv.accepted()
		// The probe's 2xx delivered the first record; the lane sends it again
		// (at least once, same webhook-id) and goes on with the next.
		if !slices.Equal(got[:3], []string{ids[0], ids[0], ids[1]}) {
			t.Fatalf("after recovery %v, want %v", got, []string{ids[0], ids[0], ids[1]})
		}
		var log []webhooks.Attempt
		var err error
		waitFor(t, "the probe in the log", func() bool {
			log, _, err = f.svc.Deliveries(ctx, ep.ID, "", 100)
			return err != nil || slices.ContainsFunc(log, func(a webhooks.Attempt) bool { return a.Outcome == "probe" && a.Status == 200 })
		})
		if err != nil || !slices.ContainsFunc(log, func(a webhooks.Attempt) bool { return a.Outcome == "probe" && a.Status == 200 }) {
			t.Fatalf("log has no successful probe: %+v, %v", log, err)
		}
	})
}

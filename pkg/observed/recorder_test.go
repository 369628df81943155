package observed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/scim"
)

const entraURN = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

var conn = scim.Connection{Tenant: "acme", SSO: "entra"}

// countingStore is an in-memory observed.Store that counts its calls and
// can be made to fail.
type countingStore struct {
	mu      sync.Mutex
	entries map[scim.Connection]map[observed.Key]*observed.Entry
	lists   int
	adds    int
	added   [][]observed.Entry
	fail    error
}

func newCountingStore() *countingStore {
	return &countingStore{entries: map[scim.Connection]map[observed.Key]*observed.Entry{}}
}

func (s *countingStore) AddObserved(_ context.Context, conn scim.Connection, deltas []observed.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adds++
	if s.fail != nil {
		return s.fail
	}
	s.added = append(s.added, append([]observed.Entry(nil), deltas...))
	m := s.entries[conn]
	if m == nil {
		m = map[observed.Key]*observed.Entry{}
		s.entries[conn] = m
	}
	for _, d := range deltas {
		e := m[d.Key()]
		if e == nil {
			e = &observed.Entry{Conn: conn, ResourceType: d.ResourceType, URN: d.URN, Attribute: d.Attribute, JSONType: d.JSONType, FirstSeen: d.FirstSeen}
			m[d.Key()] = e
		}
		e.Count += d.Count
		e.LastSeen = d.LastSeen
	}
	return nil
}

func (s *countingStore) ListObserved(_ context.Context, conn scim.Connection) ([]observed.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	if s.fail != nil {
		return nil, s.fail
	}
	var out []observed.Entry
	for _, e := range s.entries[conn] {
		out = append(out, *e)
	}
	return out, nil
}

func (s *countingStore) calls() (lists, adds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists, s.adds
}

func (s *countingStore) entry(t *testing.T, k observed.Key) observed.Entry {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[conn][k]
	if e == nil {
		t.Fatalf("no stored entry %+v", k)
	}
	return *e
}

// clock is an injected clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func sighting(attr, jsonType string) observed.Sighting {
	return observed.Sighting{ResourceType: scim.UserResource, URN: entraURN, Attribute: attr, JSONType: jsonType}
}

func key(attr, jsonType string) observed.Key { return sighting(attr, jsonType).Key() }

func wantCalls(t *testing.T, s *countingStore, lists, adds int, when string) {
	t.Helper()
	if l, a := s.calls(); l != lists || a != adds {
		t.Fatalf("%s: %d ListObserved and %d AddObserved calls so far, want %d and %d", when, l, a, lists, adds)
	}
}

// TestRecorderWritesOncePerNewKeyAndFlushesOncePerInterval: the first
// sighting of a key is written in its request; later ones cost no store
// call until the interval has passed, and are then written in one call.
func TestRecorderWritesOncePerNewKeyAndFlushesOncePerInterval(t *testing.T) {
	ctx := context.Background()
	st := newCountingStore()
	c := &clock{t: t0}
	rec := observed.NewRecorder(st, observed.WithClock(c.now))

	rec.Record(ctx, conn, []observed.Sighting{sighting("CustomAttribute", "string")})
	wantCalls(t, st, 1, 1, "first sighting")
	if e := st.entry(t, key("customattribute", "string")); e.Count != 1 || !e.FirstSeen.Equal(t0) || !e.LastSeen.Equal(t0) || e.URN != entraURN || e.Attribute != "CustomAttribute" {
		t.Fatalf("after the first sighting: %+v", e)
	}

	for i := range 50 { // a bulk provisioning run: 50 requests within the minute
		c.advance(time.Second)
		rec.Record(ctx, conn, []observed.Sighting{sighting("customATTRIBUTE", "string")})
		if i == 49 {
			wantCalls(t, st, 1, 1, "50 later sightings within the interval")
		}
	}
	c.advance(10 * time.Second) // t0+60s: the interval has passed
	rec.Record(ctx, conn, []observed.Sighting{sighting("CustomAttribute", "string")})
	wantCalls(t, st, 1, 2, "the first sighting after the interval")
	e := st.entry(t, key("customattribute", "string"))
	if e.Count != 52 || !e.FirstSeen.Equal(t0) || !e.LastSeen.Equal(t0.Add(60*time.Second)) || e.Attribute != "CustomAttribute" {
		t.Fatalf("after the flush: %+v", e)
	}

	// A new key is written at once, even within the interval; the pending
	// counts of known keys do not ride along until the interval is over.
	c.advance(5 * time.Second)
	rec.Record(ctx, conn, []observed.Sighting{sighting("CustomAttribute", "string")})
	rec.Record(ctx, conn, []observed.Sighting{sighting("CustomAttribute", "string"), sighting("costCentre", "number")})
	wantCalls(t, st, 1, 3, "a new key within the interval")
	if got := st.added[2]; len(got) != 1 || got[0].Attribute != "costCentre" {
		t.Fatalf("the new key's write carried %+v", got)
	}
	if e := st.entry(t, key("CustomAttribute", "string")); e.Count != 52 {
		t.Fatalf("a pending count was written before the interval: %+v", e)
	}
	// A key sent twice in one request counts once.
	c.advance(time.Minute)
	rec.Record(ctx, conn, []observed.Sighting{sighting("costCentre", "number"), sighting("COSTCENTRE", "number")})
	wantCalls(t, st, 1, 4, "the flush after the second interval")
	if e := st.entry(t, key("costcentre", "number")); e.Count != 2 {
		t.Fatalf("costCentre after its flush: %+v", e)
	}
	if e := st.entry(t, key("customattribute", "string")); e.Count != 54 || !e.LastSeen.Equal(t0.Add(65*time.Second)) {
		t.Fatalf("CustomAttribute after the second flush: %+v", e)
	}

	// A string and a number under one name are two keys.
	rec.Record(ctx, conn, []observed.Sighting{sighting("CustomAttribute", "number")})
	wantCalls(t, st, 1, 5, "a known name with a new JSON type")
}

// TestRecorderColdProcessDoesNotRewriteKnownKeys: a new process loads the
// connection's keys once and writes nothing for a known one until the
// interval, however many requests it serves.
func TestRecorderColdProcessDoesNotRewriteKnownKeys(t *testing.T) {
	ctx := context.Background()
	st := newCountingStore()
	c := &clock{t: t0}
	observed.NewRecorder(st, observed.WithClock(c.now)).Record(ctx, conn, []observed.Sighting{sighting("CustomAttribute", "string")})
	wantCalls(t, st, 1, 1, "the first process")

	c.advance(time.Hour)
	cold := observed.NewRecorder(st, observed.WithClock(c.now))
	for range 20 {
		cold.Record(ctx, conn, []observed.Sighting{sighting("CustomAttribute", "string")})
	}
	wantCalls(t, st, 2, 1, "20 requests of a cold process")
	if err := cold.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, st, 2, 2, "Flush")
	if e := st.entry(t, key("CustomAttribute", "string")); e.Count != 21 || !e.FirstSeen.Equal(t0) || !e.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after the cold process flushed: %+v", e)
	}
	if err := cold.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, st, 2, 2, "Flush with nothing pending")
}

// TestRecorderBoundsKeysPerConnection: past the bound, new keys are counted
// as dropped and logged once; known keys are still counted.
func TestRecorderBoundsKeysPerConnection(t *testing.T) {
	ctx := context.Background()
	st := newCountingStore()
	var logs bytes.Buffer
	rec := observed.NewRecorder(st, observed.WithClock(func() time.Time { return t0 }), observed.WithMaxKeys(2),
		observed.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	for _, attr := range []string{"a", "b", "c", "d", "a"} {
		rec.Record(ctx, conn, []observed.Sighting{sighting(attr, "string")})
	}
	rec.Record(ctx, conn, []observed.Sighting{{ResourceType: scim.UserResource, URN: entraURN, Attribute: "e", JSONType: "null"}})
	if got := rec.Dropped(conn); got != 3 {
		t.Fatalf("dropped = %d, want 3 (c, d past the bound; a null type)", got)
	}
	wantCalls(t, st, 1, 2, "two keys within the bound")
	var news, full int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch msg := l["msg"].(string); {
		case msg == "observed an undeclared attribute":
			news++
			if l["urn"] != entraURN || l["json_type"] != "string" || l["tenant"] != "acme" || l["sso"] != "entra" || l["resource_type"] != "User" {
				t.Errorf("new key line %s", line)
			}
		case strings.HasPrefix(msg, "observed schema full"):
			full++
		}
	}
	if news != 2 || full != 1 {
		t.Fatalf("%d new-key lines and %d full lines, want 2 and 1:\n%s", news, full, logs.String())
	}
}

// TestRecorderRetriesAfterAFailedWrite: a failed store call loses nothing
// that a later sighting does not write again, and never fails the caller.
func TestRecorderRetriesAfterAFailedWrite(t *testing.T) {
	ctx := context.Background()
	st := newCountingStore()
	c := &clock{t: t0}
	rec := observed.NewRecorder(st, observed.WithClock(c.now))
	st.fail = errors.New("throttled")
	rec.Record(ctx, conn, []observed.Sighting{sighting("CustomAttribute", "string")})
	wantCalls(t, st, 1, 0, "a failed load")
	st.fail = nil
	rec.Record(ctx, conn, []observed.Sighting{sighting("CustomAttribute", "string")})
	wantCalls(t, st, 2, 1, "the load retried")
	st.fail = errors.New("throttled")
	rec.Record(ctx, conn, []observed.Sighting{sighting("costCentre", "string")})
	wantCalls(t, st, 2, 2, "a failed first write")
	st.fail = nil
	rec.Record(ctx, conn, []observed.Sighting{sighting("costCentre", "string")})
	wantCalls(t, st, 2, 3, "the first write retried")
	if e := st.entry(t, key("costCentre", "string")); e.Count != 1 {
		t.Fatalf("costCentre = %+v", e)
	}
}

// metricSink keeps the requests a metrics.Recorder hands it.
type metricSink struct{ got []metrics.Request }

func (m *metricSink) Record(r metrics.Request) { m.got = append(m.got, r) }

// TestRecorderCountsIntoTheRequestMetrics: new keys and dropped ones reach
// the request's metrics record (EMF on Lambda, Prometheus locally).
func TestRecorderCountsIntoTheRequestMetrics(t *testing.T) {
	sink := &metricSink{}
	m := metrics.NewRecorder("users", func() time.Time { return t0 }, sink)
	rec := observed.NewRecorder(newCountingStore(), observed.WithClock(func() time.Time { return t0 }), observed.WithMaxKeys(2))
	for _, attrs := range [][]string{{"a", "b", "c"}, {"a"}} {
		ctx := m.StartRequest(context.Background())
		var s []observed.Sighting
		for _, a := range attrs {
			s = append(s, sighting(a, "string"))
		}
		rec.Record(ctx, conn, s)
		m.EndRequest(ctx, "POST /{tenant}/{sso}/Users", 201, time.Millisecond, conn)
	}
	if len(sink.got) != 2 || sink.got[0].ObservedAttributes != 2 || sink.got[0].ObservedDropped != 1 ||
		sink.got[1].ObservedAttributes != 0 || sink.got[1].ObservedDropped != 0 {
		t.Fatalf("metrics records %+v", sink.got)
	}
}

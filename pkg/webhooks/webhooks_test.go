package webhooks

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestRecoveryBoundIsUnderFiveSeconds: once the receiver answers 2xx, the
// next probe (at most ProbeInterval away, lasting at most ProbeTimeout)
// wakes every lane, whatever their backoff (issue: resume within 5 s).
func TestRecoveryBoundIsUnderFiveSeconds(t *testing.T) {
	if worst := DefaultProbeInterval + DefaultProbeTimeout; worst >= 5*time.Second {
		t.Fatalf("probe interval + timeout = %v, want under 5 s", worst)
	}
}

func TestWantsAndCovers(t *testing.T) {
	e := Endpoint{Types: []string{"group.*", "user.deleted"}, Connections: []Conn{{Tenant: "acme", SSO: "okta"}}}
	for typ, want := range map[changes.Type]bool{
		changes.GroupCreated: true, changes.GroupMembersAdded: true, changes.UserDeleted: true,
		changes.UserCreated: false, changes.TokenCreated: false,
	} {
		if got := e.Wants(typ); got != want {
			t.Errorf("Wants(%s) = %v, want %v", typ, got, want)
		}
	}
	if !e.Covers(changes.Conn{Tenant: "acme", SSO: "okta"}) || e.Covers(changes.Conn{Tenant: "acme", SSO: "entra"}) {
		t.Error("Covers does not follow Connections")
	}
	all := Endpoint{}
	if !all.Wants(changes.TokenRevoked) || !all.Covers(changes.Conn{Tenant: "x", SSO: "y"}) {
		t.Error("an endpoint without types or connections takes everything")
	}
}

func TestCheckTypes(t *testing.T) {
	for _, tc := range []struct {
		types []string
		ok    bool
	}{
		{[]string{"group.*"}, true}, {[]string{"user.created", "token.*"}, true},
		{[]string{"nope.*"}, false}, {[]string{"user.created,user.deleted"}, false}, {[]string{""}, false},
	} {
		if err := CheckTypes(tc.types); (err == nil) != tc.ok {
			t.Errorf("CheckTypes(%q) = %v", tc.types, err)
		}
	}
}

// memoryStore keeps webhook items in a map, for tests of the service alone.
type memoryStore map[string]Item

func (m memoryStore) PutWebhookItem(_ context.Context, partition string, item Item) error {
	m[partition+"\x00"+item.Key] = item
	return nil
}

func (m memoryStore) GetWebhookItem(_ context.Context, partition, key string) (Item, error) {
	it, ok := m[partition+"\x00"+key]
	if !ok {
		return Item{}, scim.Errorf(scim.ENotFound, "no item %s", key)
	}
	return it, nil
}

func (m memoryStore) ListWebhookItems(_ context.Context, partition, prefix, after string, limit int) ([]Item, error) {
	var out []Item
	for k, it := range m {
		p, key, _ := strings.Cut(k, "\x00")
		if p == partition && strings.HasPrefix(key, prefix) && key > after {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b Item) int { return strings.Compare(a.Key, b.Key) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m memoryStore) DeleteWebhookItem(_ context.Context, partition, key string) error {
	delete(m, partition+"\x00"+key)
	return nil
}

// The admin API and the CLI show every time in UTC to the millisecond; an
// endpoint's times are no exception.
func TestEndpointTimesAreUTCMilliseconds(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 31, 7, 118_456_789, time.FixedZone("CET", 3600))
	svc := &Service{Store: memoryStore{}, Now: func() time.Time { return at }}
	url := "https://hooks.example.com/scim"
	got, err := svc.Create(context.Background(), Input{URL: &url})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 12, 2, 9, 31, 7, 118_000_000, time.UTC)
	if !got.Created.Equal(want) || got.Created.Location() != time.UTC || got.Created.Nanosecond() != 118_000_000 {
		t.Fatalf("created = %v, want %v", got.Created, want)
	}
}

package webhooks

import (
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
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

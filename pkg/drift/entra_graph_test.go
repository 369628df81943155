package drift_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/entra/graphtest"
	"github.com/scimgate/scimgate/pkg/idp/readers"
	"github.com/scimgate/scimgate/pkg/idp/secrets"
	"github.com/scimgate/scimgate/pkg/scim"
)

// TestEntraThroughGraph runs the drift run with the real Entra reader, built
// from a link as the CLI and ReconcileFunction build it, against the Graph
// double: Entra's default mapping (mailNickname as externalId, the group's
// object id as its externalId), a disabled account, a user assigned through
// a group, and provisionOnDemand for what scimgate may only report.
func TestEntraThroughGraph(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		e := newEnv(t, s)
		ctx := context.Background()
		e.user(t, "ann@example.com", "ann", true)
		e.user(t, "ben@example.com", "ben", true)
		cat := e.user(t, "cat@example.com", "cat", true)
		gid := e.group(t, "Team", "ann@example.com", "cat@example.com")
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"externalId","value":"g-team"}]}`
		if _, err := e.svc.Patch(ctx, conn, scim.GroupResource, gid, []byte(body), scim.Precondition{}); err != nil {
			t.Fatal(err)
		}
		g := graphtest.New(t,
			[]graphtest.User{
				{ID: "o-ann", UserPrincipalName: "ann@example.com", MailNickname: "ann", AccountEnabled: true},
				{ID: "o-ben", UserPrincipalName: "ben@example.com", MailNickname: "ben", AccountEnabled: true},
				// cat's account is disabled in Entra: active_not_assigned.
				{ID: "o-cat", UserPrincipalName: "cat@example.com", MailNickname: "cat", AccountEnabled: false},
				// dan is assigned but never arrived: assigned_missing.
				{ID: "o-dan", UserPrincipalName: "dan@example.com", MailNickname: "dan", AccountEnabled: true},
			},
			// Team has ann and ben in Entra; scimgate has ann and cat:
			// cat is member_extra, ben member_missing.
			[]graphtest.Group{{ID: "g-team", DisplayName: "Team", MailNickname: "team", MemberIDs: []string{"o-ann", "o-ben"}}},
			[]graphtest.Assignment{
				{PrincipalID: "o-ann", PrincipalType: "User"},
				{PrincipalID: "o-cat", PrincipalType: "User"},
				{PrincipalID: "o-dan", PrincipalType: "User"},
				{PrincipalID: "g-team", PrincipalType: "Group"},
			})
		g.SetPageSize(2) // every list takes several pages
		secretFile := filepath.Join(t.TempDir(), "client-secret")
		if err := os.WriteFile(secretFile, []byte(graphtest.ClientSecret), 0o600); err != nil {
			t.Fatal(err)
		}
		link := idp.Link{Kind: idp.Entra, Policy: idp.PolicyRepair, Entra: &idp.EntraLink{TenantID: graphtest.TenantID,
			ServicePrincipalID: graphtest.ServicePrincipalID, ClientID: graphtest.ClientID, ClientSecretRef: secretFile,
			GraphURL: g.URL, LoginURL: g.URL}}
		link.Normalize()
		noSleep := func(context.Context, time.Duration) error { return nil }
		reader, prov, err := readers.Factory{Secrets: secrets.Files{}, Options: readers.Options{Sleep: noSleep}}.New(ctx, link)
		if err != nil {
			t.Fatal(err)
		}
		r := drift.New(drift.Config{Store: s, Service: e.svc, Links: s, Feed: s, Clock: func() time.Time { return e.now }, Sleep: noSleep})
		rep, err := r.Run(ctx, conn, idp.Entra, reader, prov, drift.Options{Repair: true})
		if err != nil {
			t.Fatal(err)
		}
		wantCounts(t, "count", rep.Counts, map[drift.Kind]int{drift.ActiveNotAssigned: 1, drift.AssignedMissing: 1, drift.MemberExtra: 1, drift.MemberMissing: 1})
		wantCounts(t, "repaired", rep.Repaired, map[drift.Kind]int{drift.ActiveNotAssigned: 1, drift.MemberExtra: 1})
		if u, err := s.Get(ctx, conn, scim.UserResource, cat, false); err != nil || u.Active {
			t.Fatalf("cat after repair: %+v, %v", u, err)
		}
		var asked []string
		for _, p := range g.Provisioned() {
			asked = append(asked, p.ObjectID)
		}
		slices.Sort(asked)
		if !slices.Equal(asked, []string{"o-ben", "o-dan"}) || rep.ProvisionRequested != 2 {
			t.Fatalf("provisionOnDemand asked for %v (report says %d), want o-ben and o-dan", asked, rep.ProvisionRequested)
		}
		for _, typ := range []changes.Type{changes.UserDeactivated, changes.GroupMembersRemoved} {
			if recs := records(t, s, typ); len(recs) != 1 || recs[0].Actor != "reconcile:entra" {
				t.Fatalf("%s records = %+v", typ, recs)
			}
		}
	})
}

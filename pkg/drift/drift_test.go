package drift_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/okta"
	"github.com/scimgate/scimgate/pkg/idp/okta/oktatest"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

var moto dynamotest.Shared

func TestMain(m *testing.M) { os.Exit(moto.Run(m)) }

// store is what a drift run needs of a store, as both stores are.
type store interface {
	scim.Store
	auth.ConnectionStore
	drift.LinkStore
	drift.Appender
	changes.Feed
}

// eachStore runs fn on the embedded store and on DynamoDB (moto).
func eachStore(t *testing.T, fn func(t *testing.T, s store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "scimgate.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("dynamodb", func(t *testing.T) {
		srv := moto.Server(t)
		client := srv.Client(t)
		fn(t, dynamostore.New(client, srv.NewTable(t, client)))
	})
}

const (
	appID    = "0oaScimgate"
	apiToken = "00SSWS-drift-test-secret"
)

var (
	conn = scim.Connection{Tenant: "acme", SSO: "okta"}
	t0   = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
)

type env struct {
	s      store
	svc    *scim.Service
	runner *drift.Runner
	okta   *oktatest.Server
	reader *okta.Reader
	ids    map[string]string // userName/displayName -> scimgate id
	now    time.Time
}

func newEnv(t *testing.T, s store) *env {
	t.Helper()
	e := &env{s: s, ids: map[string]string{}, now: t0}
	clock := func() time.Time { return e.now }
	e.svc = scim.NewService(s, scim.WithClock(clock))
	ctx := context.Background()
	secret, _ := auth.NewSecret()
	if err := s.CreateConnection(ctx, auth.ConnectionRecord{Conn: conn, Created: t0}, auth.NewTokenInfo(conn, secret, t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIdPLink(ctx, conn, idp.Link{Kind: idp.Okta, Policy: idp.PolicyReport,
		Okta: &idp.OktaLink{OrgURL: "http://127.0.0.1", AppID: appID, APITokenRef: "/run/okta-token"}}); err != nil {
		t.Fatal(err)
	}
	e.okta = oktatest.New(t, appID)
	e.okta.APIToken, e.okta.PageSize = apiToken, 2 // page everything
	r, err := okta.New(okta.Config{OrgURL: e.okta.URL, AppID: appID, APIToken: apiToken,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	e.reader = r
	e.runner = drift.New(drift.Config{Store: s, Service: e.svc, Links: s, Feed: s, Clock: clock})
	return e
}

func (e *env) user(t *testing.T, userName, externalID string, active bool) string {
	t.Helper()
	doc := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName, "active": active}
	if externalID != "" {
		doc["externalId"] = externalID
	}
	body, _ := json.Marshal(doc)
	res, err := e.svc.Create(context.Background(), conn, scim.UserResource, body)
	if err != nil {
		t.Fatal(err)
	}
	e.ids[userName] = res.Resource.ID
	return res.Resource.ID
}

func (e *env) group(t *testing.T, name string, members ...string) string {
	t.Helper()
	var ms []map[string]string
	for _, m := range members {
		ms = append(ms, map[string]string{"value": e.ids[m]})
	}
	body, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": ms})
	res, err := e.svc.Create(context.Background(), conn, scim.GroupResource, body)
	if err != nil {
		t.Fatal(err)
	}
	e.ids[name] = res.Resource.ID
	return res.Resource.ID
}

// scenario builds one of each drift kind (see the comments) and returns
// the counts a run must find.
func scenario(t *testing.T, e *env) map[drift.Kind]int {
	t.Helper()
	// alice: in sync, joined by the AppUser's externalId = scimgate id.
	alice := e.user(t, "alice@example.com", "00uALICE", true)
	e.okta.AddUser(oktatest.AppUser{ID: "00uALICE", ExternalID: alice, UserName: "alice@example.com"})
	// frank: in sync, joined by the AppUser's id = scimgate externalId (no externalId in Okta).
	e.user(t, "frank@example.com", "00uFRANK", true)
	e.okta.AddUser(oktatest.AppUser{ID: "00uFRANK", UserName: "frank@example.com"})
	// bob: deprovisioned in Okta, active here: active_not_assigned.
	bob := e.user(t, "bob@example.com", "00uBOB", true)
	e.okta.AddUser(oktatest.AppUser{ID: "00uBOB", ExternalID: bob, Status: "DEPROVISIONED", UserName: "bob@example.com"})
	// carol: active here, unknown to the app: active_not_assigned.
	e.user(t, "carol@example.com", "00uCAROL", true)
	// dave: assigned in Okta, never arrived: assigned_missing.
	e.okta.AddUser(oktatest.AppUser{ID: "00uDAVE", UserName: "dave@example.com"})
	// erin: assigned in Okta, inactive here, joined by userName only: assigned_missing.
	e.user(t, "Erin@Example.com", "", false)
	e.okta.AddUser(oktatest.AppUser{ID: "00uERIN", Status: "ACTIVE", UserName: "erin@example.com"})

	// Engineering is pushed: Okta has alice, frank, dave; scimgate alice and bob.
	// bob is member_extra, frank member_missing (dave is already assigned_missing).
	e.group(t, "Engineering", "alice@example.com", "bob@example.com")
	e.okta.AddGroup(oktatest.Group{ID: "00gENG", Name: "Engineering", Members: []string{"00uALICE", "00uFRANK", "00uDAVE"}})
	e.okta.Push("00gENG", "ACTIVE")
	// Legacy's push was unlinked: group_not_pushed.
	e.group(t, "Legacy", "alice@example.com")
	e.okta.AddGroup(oktatest.Group{ID: "00gOLD", Name: "Legacy"})
	e.okta.Push("00gOLD", "INACTIVE")
	// Sales is pushed but never arrived: assigned_missing (a group).
	e.okta.AddGroup(oktatest.Group{ID: "00gSALES", Name: "Sales", Members: []string{"00uALICE"}})
	e.okta.Push("00gSALES", "ACTIVE")
	return map[drift.Kind]int{drift.ActiveNotAssigned: 2, drift.AssignedMissing: 3, drift.MemberExtra: 1, drift.MemberMissing: 1, drift.GroupNotPushed: 1}
}

func wantCounts(t *testing.T, what string, got, want map[drift.Kind]int) {
	t.Helper()
	for _, k := range drift.Kinds {
		if got[k] != want[k] {
			t.Errorf("%s %s = %d, want %d (all: %v)", what, k, got[k], want[k], got)
		}
	}
}

func records(t *testing.T, s store, typ changes.Type) []changes.Record {
	t.Helper()
	page, err := s.ListChanges(context.Background(), changes.Query{Tenant: conn.Tenant, SSO: conn.SSO, Types: []changes.Type{typ}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return page.Records
}

func TestReportFindsEveryKind(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		e := newEnv(t, s)
		want := scenario(t, e)
		rep, err := e.runner.Run(context.Background(), conn, idp.Okta, e.reader, nil, drift.Options{})
		if err != nil {
			t.Fatal(err)
		}
		wantCounts(t, "count", rep.Counts, want)
		wantCounts(t, "repaired", rep.Repaired, map[drift.Kind]int{})
		if rep.Clean() || rep.GuardTripped {
			t.Fatalf("report with drift is clean: %+v", rep)
		}
		ex := rep.Examples[drift.MemberExtra]
		if len(ex) != 1 || ex[0].ID != e.ids["bob@example.com"] || ex[0].GroupID != e.ids["Engineering"] || ex[0].ExternalID != "00uBOB" {
			t.Fatalf("member_extra examples = %+v", ex)
		}
		if ex := rep.Examples[drift.MemberMissing]; len(ex) != 1 || ex[0].ID != e.ids["frank@example.com"] {
			t.Fatalf("member_missing examples = %+v", ex)
		}
		if ex := rep.Examples[drift.GroupNotPushed]; len(ex) != 1 || ex[0].ID != e.ids["Legacy"] || ex[0].ResourceType != scim.GroupResource {
			t.Fatalf("group_not_pushed examples = %+v", ex)
		}
		// Nothing changed: every user still as it was, no repair records.
		if n := len(records(t, s, changes.UserDeactivated)); n != 0 {
			t.Fatalf("a report-only run deactivated %d users", n)
		}
		recs := records(t, s, changes.ConnectionReconciled)
		if len(recs) != 1 || recs[0].Actor != "reconcile:okta" || !strings.Contains(string(recs[0].Data), `"active_not_assigned":2`) {
			t.Fatalf("connection.reconciled records = %+v", recs)
		}
		stored, err := s.GetReconcileReport(context.Background(), conn)
		if err != nil || !strings.Contains(string(stored), `"assigned_missing":3`) {
			t.Fatalf("stored report = %s, %v", stored, err)
		}
		for _, secret := range []string{apiToken, "@example.com", "alice", "Erin"} {
			if b, _ := json.Marshal(rep); strings.Contains(string(b), secret) {
				t.Fatalf("report holds %q: %s", secret, b)
			}
		}
	})
}

func TestRepairRevokes(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		e := newEnv(t, s)
		want := scenario(t, e)
		e.now = t0.Add(time.Hour)
		rep, err := e.runner.Run(context.Background(), conn, idp.Okta, e.reader, nil, drift.Options{Repair: true})
		if err != nil {
			t.Fatal(err)
		}
		wantCounts(t, "count", rep.Counts, want)
		wantCounts(t, "repaired", rep.Repaired, map[drift.Kind]int{drift.ActiveNotAssigned: 2, drift.MemberExtra: 1})
		ctx := context.Background()
		for _, name := range []string{"bob@example.com", "carol@example.com"} {
			u, err := s.Get(ctx, conn, scim.UserResource, e.ids[name], false)
			if err != nil || u.Active {
				t.Fatalf("%s after repair: %+v, %v", name, u, err)
			}
		}
		for _, name := range []string{"alice@example.com", "frank@example.com"} {
			if u, err := s.Get(ctx, conn, scim.UserResource, e.ids[name], false); err != nil || !u.Active {
				t.Fatalf("%s was deactivated: %+v, %v", name, u, err)
			}
		}
		g, err := s.Get(ctx, conn, scim.GroupResource, e.ids["Engineering"], true)
		if err != nil || len(g.Members) != 1 || g.Members[0].Value != e.ids["alice@example.com"] {
			t.Fatalf("Engineering after repair: %+v, %v", g, err)
		}
		// The repairs went through the write path: records with the actor.
		deact := records(t, s, changes.UserDeactivated)
		removed := records(t, s, changes.GroupMembersRemoved)
		if len(deact) != 2 || len(removed) != 1 {
			t.Fatalf("%d user.deactivated and %d group.members_removed records, want 2 and 1", len(deact), len(removed))
		}
		for _, r := range append(deact, removed...) {
			if r.Actor != "reconcile:okta" || !strings.HasPrefix(r.RequestID, "reconcile-") {
				t.Fatalf("repair record %s has actor %q request %q", r.Type, r.Actor, r.RequestID)
			}
		}
		// Only the reportable drift remains on the next run.
		again, err := e.runner.Run(ctx, conn, idp.Okta, e.reader, nil, drift.Options{Repair: true})
		if err != nil {
			t.Fatal(err)
		}
		wantCounts(t, "count after repair", again.Counts, map[drift.Kind]int{drift.AssignedMissing: 3, drift.MemberMissing: 1, drift.GroupNotPushed: 1})
	})
}

func TestGuard(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		e := newEnv(t, s)
		// 20 active users, of whom the app (a wrong one, say) assigns 17:
		// 3 deactivations are within the guard (max(4, 10%)), 6 are not.
		for i := range 20 {
			ext := fmt.Sprintf("00u%02d", i)
			e.user(t, fmt.Sprintf("u%d@example.com", i), ext, true)
			if i >= 6 {
				e.okta.AddUser(oktatest.AppUser{ID: ext, UserName: fmt.Sprintf("u%d@example.com", i)})
			}
		}
		ctx := context.Background()
		rep, err := e.runner.Run(ctx, conn, idp.Okta, e.reader, nil, drift.Options{Repair: true})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.GuardTripped || rep.Counts[drift.ActiveNotAssigned] != 6 || rep.Repaired[drift.ActiveNotAssigned] != 0 || rep.Clean() {
			t.Fatalf("guard did not trip: %+v", rep)
		}
		if n := len(records(t, s, changes.UserDeactivated)); n != 0 {
			t.Fatalf("the guard tripped but %d users were deactivated", n)
		}
		// --max-deactivate 5 is still below 6.
		if rep, err = e.runner.Run(ctx, conn, idp.Okta, e.reader, nil, drift.Options{Repair: true, MaxDeactivate: 5}); err != nil || !rep.GuardTripped {
			t.Fatalf("max-deactivate 5 for 6: %+v, %v", rep, err)
		}
		// A higher --max-deactivate lets it through.
		rep, err = e.runner.Run(ctx, conn, idp.Okta, e.reader, nil, drift.Options{Repair: true, MaxDeactivate: 6})
		if err != nil || rep.GuardTripped || rep.Repaired[drift.ActiveNotAssigned] != 6 || !rep.Clean() {
			t.Fatalf("max-deactivate 6: %+v, %v", rep, err)
		}
	})
}

func TestBrokenLinkChangesNothing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
		app   string
	}{
		{"401", func(e *env) { e.okta.APIToken = "rotated" }, appID},
		{"403 mid-paging", func(e *env) { e.okta.Faults = []oktatest.Fault{{Path: "/api/v1/apps/", Nth: 2, Status: 403}} }, appID},
		{"500 mid-paging", func(e *env) { e.okta.Faults = []oktatest.Fault{{Path: "/api/v1/apps/", Nth: 3, Status: 500}} }, appID},
		{"404 app", func(e *env) {}, "0oaWrongApp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, s store) {
				e := newEnv(t, s)
				scenario(t, e)
				tc.setup(e)
				r, err := okta.New(okta.Config{OrgURL: e.okta.URL, AppID: tc.app, APIToken: apiToken,
					Sleep: func(context.Context, time.Duration) error { return nil }})
				if err != nil {
					t.Fatal(err)
				}
				rep, err := e.runner.Run(context.Background(), conn, idp.Okta, r, nil, drift.Options{Repair: true, MaxDeactivate: 1000})
				var ie *idp.Error
				if !errors.As(err, &ie) || rep != nil {
					t.Fatalf("run = %+v, %v; want an idp.Error and no report", rep, err)
				}
				if strings.Contains(err.Error(), apiToken) {
					t.Fatalf("error holds the token: %v", err)
				}
				for _, typ := range []changes.Type{changes.UserDeactivated, changes.GroupMembersRemoved, changes.ConnectionReconciled} {
					if n := len(records(t, s, typ)); n != 0 {
						t.Fatalf("a failed run wrote %d %s records", n, typ)
					}
				}
				if _, err := s.GetReconcileReport(context.Background(), conn); scim.ErrorCodeOf(err) != scim.ENotFound {
					t.Fatalf("a failed run stored a report: %v", err)
				}
			})
		})
	}
}

// provisioner records what it was asked to provision.
type provisioner struct{ asked [][]string }

func (p *provisioner) ProvisionOnDemand(_ context.Context, ids []string) (int, error) {
	p.asked = append(p.asked, ids)
	return len(ids), nil
}

// snapshotReader serves a fixed snapshot, as an Entra reader would.
type snapshotReader idp.Snapshot

func (r snapshotReader) Read(context.Context) (idp.Snapshot, error) { return idp.Snapshot(r), nil }

func TestEntraJoinAndProvisioning(t *testing.T) {
	eachStore(t, func(t *testing.T, s store) {
		e := newEnv(t, s)
		// Entra sends mailNickname as externalId and objectId as the group's.
		e.user(t, "ann@example.com", "ann", true)
		e.user(t, "ben@example.com", "ben", true)
		gid := e.group(t, "Team", "ann@example.com", "ben@example.com")
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"externalId","value":"obj-team"}]}`
		if _, err := e.svc.Patch(context.Background(), conn, scim.GroupResource, gid, []byte(body), scim.Precondition{}); err != nil {
			t.Fatal(err)
		}
		var snap idp.Snapshot
		snap.Users = []idp.User{{IdPID: "o-ann", ExternalID: "ann", Assigned: true}, {IdPID: "o-ben", ExternalID: "ben", Assigned: true}}
		for i := range 7 {
			snap.Users = append(snap.Users, idp.User{IdPID: fmt.Sprintf("o-new%d", i), ExternalID: fmt.Sprintf("new%d", i), Assigned: true})
		}
		snap.Groups = []idp.Group{{IdPID: "obj-team", ExternalID: "obj-team", DisplayName: "Renamed Team", Pushed: true, MemberIDs: []string{"o-ann"}}}
		var slept []time.Duration
		r := drift.New(drift.Config{Store: s, Service: e.svc, Links: s, Feed: s, Clock: func() time.Time { return e.now },
			Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }})
		p := &provisioner{}
		rep, err := r.Run(context.Background(), conn, idp.Entra, snapshotReader(snap), p, drift.Options{Repair: true})
		if err != nil {
			t.Fatal(err)
		}
		wantCounts(t, "count", rep.Counts, map[drift.Kind]int{drift.AssignedMissing: 7, drift.MemberExtra: 1})
		wantCounts(t, "repaired", rep.Repaired, map[drift.Kind]int{drift.MemberExtra: 1})
		if rep.ProvisionRequested != 7 || len(p.asked) != 2 || len(p.asked[0]) != 5 || len(slept) != 1 || slept[0] != 10*time.Second {
			t.Fatalf("provisioned %d in %v, slept %v; want 7 in batches of 5, 10 s apart", rep.ProvisionRequested, p.asked, slept)
		}
		if recs := records(t, s, changes.GroupMembersRemoved); len(recs) != 1 || recs[0].Actor != "reconcile:entra" {
			t.Fatalf("entra repair records = %+v", recs)
		}
	})
}

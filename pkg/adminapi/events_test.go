package adminapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

func TestEventsRoute(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The store's own call writes no change record (no journal on ctx), so
	// the feed holds exactly the records below.
	acme := scim.Connection{Tenant: "acme", SSO: "okta"}
	if err := st.CreateConnection(ctx, auth.ConnectionRecord{Conn: acme, State: auth.StateActive, Created: time.Now()}, auth.NewTokenInfo(acme, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-x", time.Now())); err != nil {
		t.Fatal(err)
	}
	gen := changes.NewIDGenerator(nil)
	at := time.Now().UTC().Truncate(time.Millisecond)
	var recs []changes.Record
	for i, typ := range []changes.Type{changes.UserCreated, changes.UserDeactivated, changes.UserCreated} {
		rid := fmt.Sprintf("u%d", i%2)
		recs = append(recs, changes.Record{ID: gen(at), Type: typ, Tenant: "acme", SSO: "okta", ResourceType: "User", ResourceID: rid,
			Version: int64(i + 1), Time: at, RequestID: "r", Actor: changes.TokenActor("t"), Changed: []string{"active"},
			Data: json.RawMessage(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":%q,"meta":{"resourceType":"User","version":"W/\"%d\""}}`, rid, i+1))})
		if typ == changes.UserDeactivated {
			recs[i].Previous, recs[i].Current = map[string]any{"active": true}, map[string]any{"active": false}
		}
	}
	if err := st.AppendChanges(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adminapi.New(adminapi.Config{Store: st, Feed: st, Authorize: adminapi.BearerToken(adminToken)}))
	t.Cleanup(srv.Close)
	base := srv.URL + "/admin/v1/connections/acme/okta/events"
	bearer := "Bearer " + adminToken

	page := func(query string) (int, []string, string) {
		t.Helper()
		status, body := call(t, "GET", base+query, bearer, "")
		if status != 200 {
			return status, nil, ""
		}
		evs, _ := body["events"].([]any)
		var ids []string
		for _, e := range evs {
			b, _ := json.Marshal(e)
			if err := changestest.ValidateJSON(b); err != nil {
				t.Errorf("event %s: %v", b, err)
			}
			ids = append(ids, e.(map[string]any)["id"].(string))
		}
		next, _ := body["next"].(string)
		return status, ids, next
	}
	_, ids, next := page("?limit=2")
	if len(ids) != 2 || ids[0] != recs[0].ID || next != recs[1].ID {
		t.Fatalf("first page %v next %q", ids, next)
	}
	_, ids, next = page("?after=" + next)
	if len(ids) != 1 || ids[0] != recs[2].ID || next != recs[2].ID {
		t.Fatalf("second page %v next %q", ids, next)
	}
	if _, ids, again := page("?after=" + next); len(ids) != 0 || again != next {
		t.Errorf("caught up: %v next %q, want an empty page with the same cursor %q", ids, again, next)
	}
	if _, ids, _ := page("?type=user.deactivated"); len(ids) != 1 || ids[0] != recs[1].ID {
		t.Errorf("type filter: %v", ids)
	}
	if _, ids, _ := page("?resource=u0"); len(ids) != 2 || ids[1] != recs[2].ID {
		t.Errorf("resource filter: %v", ids)
	}
	for _, bad := range []string{"?after=nope", "?limit=0", "?limit=5000", "?type=user.exploded"} {
		if status, _, _ := page(bad); status != 400 {
			t.Errorf("%s: status %d, want 400", bad, status)
		}
	}
	if status, _ := call(t, "GET", srv.URL+"/admin/v1/connections/acme/entra/events", bearer, ""); status != 404 {
		t.Errorf("unknown connection: %d, want 404", status)
	}
	if status, _ := call(t, "GET", base, "", ""); status != 401 {
		t.Errorf("no admin token: %d, want 401", status)
	}
	// A deleted connection's history stays readable until it is purged, as
	// `scimgate events list` reads it: deletion keeps the data for audit.
	if err := st.DeleteConnection(ctx, acme, time.Now()); err != nil {
		t.Fatal(err)
	}
	if status, _ := call(t, "GET", srv.URL+"/admin/v1/connections/acme/okta", bearer, ""); status != 404 {
		t.Errorf("GET a deleted connection: %d, want 404", status)
	}
	if _, ids, _ := page(""); len(ids) != 3 {
		t.Errorf("the deleted connection's events: %v, want its 3 records", ids)
	}
}

// TestAllEventsRoute: GET /admin/v1/events lists every connection's
// records as one feed, pages and resumes from next, filters by type.
func TestAllEventsRoute(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gen := changes.NewIDGenerator(nil)
	at := time.Now().UTC().Truncate(time.Millisecond)
	var recs []changes.Record
	for i, conn := range []scim.Connection{{Tenant: "acme", SSO: "okta"}, {Tenant: "beta", SSO: "entra"}, {Tenant: "acme", SSO: "okta"}} {
		typ := changes.UserCreated
		if i == 1 {
			typ = changes.UserDeleted
		}
		rid := fmt.Sprintf("u%d", i)
		recs = append(recs, changes.Record{ID: gen(at), Type: typ, Tenant: conn.Tenant, SSO: conn.SSO, ResourceType: "User", ResourceID: rid,
			Version: 1, Time: at, RequestID: "r", Actor: changes.TokenActor("t"), Changed: []string{"active"},
			Data: json.RawMessage(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":%q,"meta":{"resourceType":"User","version":"W/\"1\""}}`, rid))})
	}
	if err := st.AppendChanges(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adminapi.New(adminapi.Config{Store: st, Feed: st, Authorize: adminapi.BearerToken(adminToken)}))
	t.Cleanup(srv.Close)
	bearer := "Bearer " + adminToken
	page := func(query string) (int, []string, string) {
		t.Helper()
		status, body := call(t, "GET", srv.URL+"/admin/v1/events"+query, bearer, "")
		if status != 200 {
			return status, nil, ""
		}
		evs, _ := body["events"].([]any)
		var ids []string
		for _, e := range evs {
			b, _ := json.Marshal(e)
			if err := changestest.ValidateJSON(b); err != nil {
				t.Errorf("event %s: %v", b, err)
			}
			ids = append(ids, e.(map[string]any)["id"].(string))
		}
		next, _ := body["next"].(string)
		return status, ids, next
	}
	_, ids, next := page("?limit=2")
	if len(ids) != 2 || ids[0] != recs[0].ID || ids[1] != recs[1].ID || next != recs[1].ID {
		t.Fatalf("first page %v next %q", ids, next)
	}
	_, ids, next = page("?after=" + next)
	if len(ids) != 1 || ids[0] != recs[2].ID || next != recs[2].ID {
		t.Fatalf("second page %v next %q", ids, next)
	}
	if _, ids, again := page("?after=" + next); len(ids) != 0 || again != next {
		t.Errorf("caught up: %v next %q, want an empty page with the same cursor %q", ids, again, next)
	}
	if _, ids, _ := page("?type=user.deleted"); len(ids) != 1 || ids[0] != recs[1].ID {
		t.Errorf("type filter: %v", ids)
	}
	for _, bad := range []string{"?after=nope", "?limit=0", "?limit=5000", "?type=user.exploded"} {
		if status, _, _ := page(bad); status != 400 {
			t.Errorf("%s: status %d, want 400", bad, status)
		}
	}
	if status, _ := call(t, "GET", srv.URL+"/admin/v1/events", "", ""); status != 401 {
		t.Errorf("no admin token: %d, want 401", status)
	}
}

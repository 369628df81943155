package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
)

// feedStores are the two stores with their feeds readable at once (no
// settle window on DynamoDB).
var feedStores = map[string]storeFactory{
	"embedded": sqliteStores,
	"dynamodb": func(t *testing.T) stores {
		t.Helper()
		srv := moto.Server(t)
		client := srv.Client(t)
		st := dynamostore.New(client, srv.NewTable(t, client), dynamostore.WithChangeSettle(0))
		return stores{resources: st, tokens: st}
	},
}

// feedOf reads conn's whole feed after a cursor, checking every record
// against the published schema.
func feedOf(t *testing.T, st stores, conn scim.Connection, after string) []changes.Record {
	t.Helper()
	feed, ok := st.resources.(changes.Feed)
	if !ok {
		t.Fatal("store keeps no change feed")
	}
	var out []changes.Record
	for range 100 {
		p, err := feed.ListChanges(context.Background(), changes.Query{Tenant: conn.Tenant, SSO: conn.SSO, After: after})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Records...)
		if p.Next == after {
			changestest.Validate(t, out...)
			return out
		}
		after = p.Next
	}
	t.Fatal("the feed does not end")
	return nil
}

// current stands for the version the resource has after the step.
const current = -100

// want is one expected record: type, resource (a name of the test's), version, changed.
type want struct {
	typ      changes.Type
	resource string
	version  int64
	changed  string // comma-separated
}

func (w want) String() string {
	return fmt.Sprintf("%s %s v%d [%s]", w.typ, w.resource, w.version, w.changed)
}

// TestRecordsOfEveryMutatingRoute sends each kind of change, each no-op
// and each refused request once, and checks after each exactly which
// records were added: type, resource, version and changed attributes, the
// request id and the actor, on both stores.
func TestRecordsOfEveryMutatingRoute(t *testing.T) {
	for name, factory := range feedStores {
		t.Run(name, func(t *testing.T) {
			st := factory(t)
			srv := startServer(t, st, serverConfig{})
			c := srv.client(t, testConn)
			actor := changes.TokenActor(auth.TokenID(auth.HashSecret(c.token)))
			ids := map[string]string{}
			versions := map[string]int64{}
			versionOf := func(name string) int64 {
				t.Helper()
				for _, coll := range []string{"/Users/", "/Groups/"} {
					r := c.do(t, "GET", coll+ids[name]+"?excludedAttributes=members", "")
					if r.status == 200 {
						v, ok := scim.ParseETag(r.header.Get("ETag"))
						if !ok {
							t.Fatalf("no ETag on %s", name)
						}
						return v
					}
				}
				t.Fatalf("%s not found", name)
				return 0
			}
			cursor := ""
			step := func(name, method, path, body string, status int, wants ...want) response {
				t.Helper()
				for k, v := range ids {
					path = strings.ReplaceAll(path, "{"+k+"}", v)
					body = strings.ReplaceAll(body, "{"+k+"}", v)
				}
				r := c.do(t, method, path, body)
				if r.status != status {
					t.Fatalf("%s: status %d, want %d\n%s", name, r.status, status, r)
				}
				if r.status == 201 {
					id, _ := r.object(t)["id"].(string)
					known := false
					for _, v := range ids {
						known = known || v == id
					}
					if !known {
						ids[name] = id
					}
				}
				got := feedOf(t, st, testConn, cursor)
				if len(got) > 0 {
					cursor = got[len(got)-1].ID
				}
				var gotW []string
				for _, rec := range got {
					res := rec.ResourceID
					for k, v := range ids {
						if v == rec.ResourceID {
							res = k
						}
					}
					v := rec.Version
					if v == 0 && (rec.Type == changes.GroupMembersAdded || rec.Type == changes.GroupMembersRemoved) {
						v = versionOf(res) // not known when written: compare with the version after it
					}
					gotW = append(gotW, want{rec.Type, res, v, strings.Join(rec.Changed, ",")}.String())
					if rec.RequestID != r.header.Get("X-Request-Id") || rec.Actor != actor {
						t.Errorf("%s: record has request %q actor %q, want %q %q", name, rec.RequestID, rec.Actor, r.header.Get("X-Request-Id"), actor)
					}
				}
				var wantW []string
				for _, w := range wants {
					if w.version == current {
						// The version the resource has now (a group PATCH
						// answers 204 without it), or one more than the last
						// for a deletion.
						if w.typ == changes.GroupDeleted || w.typ == changes.UserDeleted {
							w.version = versions[w.resource] + 1
						} else {
							w.version = versionOf(w.resource)
						}
					}
					if w.version > 0 {
						versions[w.resource] = w.version
					}
					wantW = append(wantW, w.String())
				}
				if !slices.Equal(gotW, wantW) {
					t.Errorf("%s: records\n  %v\nwant\n  %v", name, gotW, wantW)
				}
				return r
			}
			// A membership-only PATCH that a store applies without reading
			// the group does not know the version it produces when its
			// records are written (docs/events.md, ordering): they may carry 0.
			patchedVersion := func(v int64) int64 { return v }
			patch := func(ops string) string {
				return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`
			}
			user := func(name, ext string, active bool, title string) string {
				return fmt.Sprintf(`{"schemas":[%q],"userName":%q,"externalId":%q,"active":%v,"title":%q}`, scim.UserSchema, name, ext, active, title)
			}
			step("ada", "POST", "/Users", user("ada@example.com", "00u-ada", true, "Eng"), 201,
				want{changes.UserCreated, "ada", 1, "active,externalId,title,userName"})
			step("bob", "POST", "/Users", user("bob@example.com", "00u-bob", true, ""), 201,
				want{changes.UserCreated, "bob", 1, "active,externalId,title,userName"})
			step("duplicate userName", "POST", "/Users", user("ADA@example.com", "00u-x", true, ""), 409)
			step("invalid body", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`, 400)
			step("PATCH title", "PATCH", "/Users/{ada}", patch(`{"op":"replace","path":"title","value":"CTO"}`), 200,
				want{changes.UserUpdated, "ada", 2, "title"})
			step("PATCH same title", "PATCH", "/Users/{ada}", patch(`{"op":"replace","path":"title","value":"CTO"}`), 200)
			step("PATCH title again", "PATCH", "/Users/{ada}", patch(`{"op":"replace","path":"title","value":"x"}`), 200,
				want{changes.UserUpdated, "ada", 3, "title"})
			step("deactivate", "PATCH", "/Users/{ada}", patch(`{"op":"replace","path":"active","value":false}`), 200,
				want{changes.UserDeactivated, "ada", 4, "active"})
			step("re-POST reactivates", "POST", "/Users", user("ada@example.com", "00u-ada", true, "x"), 201,
				want{changes.UserReactivated, "ada", 5, "active"})
			step("PUT", "PUT", "/Users/{ada}", user("ada@example.com", "00u-ada", false, "Chair"), 200,
				want{changes.UserDeactivated, "ada", 6, "active,title"})
			step("PUT same", "PUT", "/Users/{ada}", user("ada@example.com", "00u-ada", false, "Chair"), 200)
			step("eng", "POST", "/Groups", fmt.Sprintf(`{"schemas":[%q],"displayName":"Eng","members":[{"value":"{bob}"}]}`, scim.GroupSchema), 201,
				want{changes.GroupCreated, "eng", 1, "displayName"}, want{changes.GroupMembersAdded, "eng", 1, "members"})
			step("add member", "PATCH", "/Groups/{eng}", patch(`{"op":"add","path":"members","value":[{"value":"{ada}"}]}`), 204,
				want{changes.GroupMembersAdded, "eng", patchedVersion(current), "members"})
			step("add member again", "PATCH", "/Groups/{eng}", patch(`{"op":"add","path":"members","value":[{"value":"{ada}"}]}`), 204)
			step("add unknown member", "PATCH", "/Groups/{eng}", patch(`{"op":"add","path":"members","value":[{"value":"00000000-0000-4000-8000-999999999999"}]}`), 400)
			step("remove non-member", "PATCH", "/Groups/{eng}", patch(`{"op":"remove","path":"members[value eq \"00000000-0000-4000-8000-999999999999\"]"}`), 204)
			step("rename", "PATCH", "/Groups/{eng}", patch(`{"op":"replace","path":"displayName","value":"Engineering"}`), 204,
				want{changes.GroupUpdated, "eng", current, "displayName"})
			step("remove member", "PATCH", "/Groups/{eng}", patch(`{"op":"remove","path":"members[value eq \"{bob}\"]"}`), 204,
				want{changes.GroupMembersRemoved, "eng", patchedVersion(current), "members"})
			step("PUT group", "PUT", "/Groups/{eng}", fmt.Sprintf(`{"schemas":[%q],"displayName":"Engineering","externalId":"g-1","members":[{"value":"{bob}"}]}`, scim.GroupSchema), 200,
				want{changes.GroupUpdated, "eng", current, "externalId"}, want{changes.GroupMembersAdded, "eng", current, "members"}, want{changes.GroupMembersRemoved, "eng", current, "members"})
			step("delete user", "DELETE", "/Users/{bob}", "", 204,
				want{changes.UserDeleted, "bob", current, ""})
			step("delete deleted user", "DELETE", "/Users/{bob}", "", 404)
			step("delete group", "DELETE", "/Groups/{eng}", "", 204,
				want{changes.GroupDeleted, "eng", current, ""})
		})
	}
}

// TestReplayedRecordsRebuildTheState: after each Okta and Entra fixture,
// on both stores, the records rebuild what the API serves: a user's last
// record's data is its representation, a group's membership records add up
// to its members, versions of a resource only grow, and every record
// matches the schema.
func TestReplayedRecordsRebuildTheState(t *testing.T) {
	for name, factory := range feedStores {
		for _, set := range []fixtureSet{oktaTraffic(), entraTraffic()} {
			t.Run(name+"/"+set.dir[strings.LastIndex(set.dir, "/")+1:], func(t *testing.T) {
				replayFixturesThen(t, set, factory, func(t *testing.T, r *replay) {
					checkRebuild(t, r.srv, testConn)
				})
			})
		}
	}
}

func checkRebuild(t *testing.T, srv *testServer, conn scim.Connection) {
	t.Helper()
	recs := feedOf(t, srv.stores, conn, "")
	last := map[string]changes.Record{}
	highest := map[string]int64{}
	unknownVersion := map[string]bool{} // a membership record written without the version (DynamoDB)
	members := map[string]map[string]bool{}
	for _, rec := range recs {
		if rec.Version == 0 {
			unknownVersion[rec.ResourceID] = true
		} else if rec.Version < highest[rec.ResourceID] {
			t.Errorf("%s %s: version %d after %d", rec.Type, rec.ResourceID, rec.Version, highest[rec.ResourceID])
		}
		highest[rec.ResourceID] = max(highest[rec.ResourceID], rec.Version)
		switch rec.Type {
		case changes.GroupMembersAdded, changes.GroupMembersRemoved:
			var m changes.MembersData
			if err := json.Unmarshal(rec.Data, &m); err != nil {
				t.Fatal(err)
			}
			if members[rec.ResourceID] == nil {
				members[rec.ResourceID] = map[string]bool{}
			}
			for _, id := range m.MemberIDs {
				members[rec.ResourceID][id] = rec.Type == changes.GroupMembersAdded
			}
		default:
			last[rec.ResourceID] = rec
		}
	}
	ctx := context.Background()
	for id, rec := range last {
		typ := scim.ResourceType(rec.ResourceType)
		res, err := srv.stores.resources.Get(ctx, conn, typ, id, true)
		deleted := rec.Type == changes.UserDeleted || rec.Type == changes.GroupDeleted
		if deleted {
			if !scim.IsNotFound(err) {
				t.Errorf("%s %s: the last record is %s, but the resource is there (%v)", typ, id, rec.Type, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: the last record is %s, but: %v", typ, id, rec.Type, err)
			continue
		}
		var data map[string]any
		_ = json.Unmarshal(rec.Data, &data)
		meta, _ := data["meta"].(map[string]any)
		if meta["version"] != scim.ETag(rec.Version) {
			t.Errorf("%s %s: record of version %d carries data of version %v", typ, id, rec.Version, meta["version"])
		}
		if !unknownVersion[id] && highest[id] != res.Version {
			t.Errorf("%s %s: the records reach version %d, the resource is at %d", typ, id, highest[id], res.Version)
		}
		if data["externalId"] != nil && data["externalId"] != res.ExternalID || data["id"] != res.ID {
			t.Errorf("%s %s: last record's data %v does not describe the resource", typ, id, data)
		}
		if typ == scim.GroupResource {
			var got []string
			for _, m := range res.Members {
				got = append(got, m.Value)
			}
			var fromRecords []string
			for m, in := range members[id] {
				if in {
					fromRecords = append(fromRecords, m)
				}
			}
			slices.Sort(got)
			slices.Sort(fromRecords)
			if !reflect.DeepEqual(got, fromRecords) && !(len(got) == 0 && len(fromRecords) == 0) {
				t.Errorf("group %s: members %v, the records add up to %v", id, got, fromRecords)
			}
		}
	}
}

// oktaOrder is the done-when scenario of docs/events.md in Okta's order:
// provision a user, deactivate it, push a group and add the user, delete
// the group. It returns the ids and the records it expects.
func oktaOrder(t *testing.T, c *client) (userID, groupID string, wants []want) {
	t.Helper()
	userID = c.create(t, "/Users", fmt.Sprintf(`{"schemas":[%q],"userName":"ada@example.com","externalId":"00u-ada","name":{"givenName":"Ada"},"active":true}`, scim.UserSchema))
	mustStatus(t, c.do(t, "PATCH", "/Users/"+userID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`), 200)
	groupID = c.create(t, "/Groups", fmt.Sprintf(`{"schemas":[%q],"displayName":"Engineering","externalId":"00g-eng"}`, scim.GroupSchema))
	mustStatus(t, c.do(t, "PATCH", "/Groups/"+groupID, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, userID)), 204)
	mustStatus(t, c.do(t, "DELETE", "/Groups/"+groupID, ""), 204)
	return userID, groupID, []want{
		{changes.UserCreated, "user", 1, "active,externalId,name,userName"},
		{changes.UserDeactivated, "user", 2, "active"},
		{changes.GroupCreated, "group", 1, "displayName,externalId"},
		{changes.GroupMembersAdded, "group", -1, "members"},
		{changes.GroupDeleted, "group", 3, ""},
	}
}

// sequence renders records as wants, naming the scenario's two resources.
func sequence(recs []changes.Record, userID, groupID string) []string {
	var out []string
	for _, r := range recs {
		res := map[string]string{userID: "user", groupID: "group"}[r.ResourceID]
		v := r.Version
		if r.Type == changes.GroupMembersAdded {
			v = -1 // 2, or 0 where a membership PATCH cannot know it (DynamoDB)
		}
		out = append(out, want{r.Type, res, v, strings.Join(r.Changed, ",")}.String())
	}
	return out
}

func wantStrings(ws []want) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

// TestOktaOrderScenarioFeedAndWebhook: the scenario yields exactly the
// expected records in the feed and, in the same order and with valid
// signatures, at a webhook receiver; on both stores.
func TestOktaOrderScenarioFeedAndWebhook(t *testing.T) {
	for name, factory := range feedStores {
		t.Run(name, func(t *testing.T) {
			st := factory(t)
			srv := startServer(t, st, serverConfig{})
			userID, groupID, wants := oktaOrder(t, srv.client(t, testConn))
			recs := feedOf(t, st, testConn, "")
			if got := sequence(recs, userID, groupID); !slices.Equal(got, wantStrings(wants)) {
				t.Fatalf("feed\n  %v\nwant\n  %v", got, wantStrings(wants))
			}
			var m changes.MembersData
			if err := json.Unmarshal(recs[3].Data, &m); err != nil || !slices.Equal(m.MemberIDs, []string{userID}) || m.Members[0].ID != userID || m.Members[0].UserName == "" {
				t.Errorf("members_added data %s, want the user", recs[3].Data)
			}
			delivered := deliverByWebhook(t, st, testConn, len(recs))
			if !slices.Equal(idsOfRecords(delivered), idsOfRecords(recs)) {
				t.Errorf("webhook delivered %v, want %v", idsOfRecords(delivered), idsOfRecords(recs))
			}
		})
	}
}

func idsOfRecords(rs []changes.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// TestFailedTransactionLeavesNeitherChangeNorRecord: the record of a change
// is written by the change's own transaction, so when that transaction
// fails (injected here by a record id that exists already, which both
// stores refuse), neither the change nor any record of it remains.
func TestFailedTransactionLeavesNeitherChangeNorRecord(t *testing.T) {
	for name, factory := range feedStores {
		t.Run(name, func(t *testing.T) {
			st := factory(t)
			real := changes.NewIDGenerator(nil)
			var fail atomic.Bool
			var last atomic.Value
			ids := func(at time.Time) string {
				if fail.Load() {
					return last.Load().(string) // a duplicate: the record's insert fails
				}
				id := real(at)
				last.Store(id)
				return id
			}
			srv := startServer(t, st, serverConfig{serviceOptions: []scim.Option{scim.WithChangeIDs(ids)}})
			c := srv.client(t, testConn)
			uid := c.createUser(t, "ada@example.com")
			gid := c.createGroup(t, "Eng")
			before := c.snapshot(t)
			recsBefore := feedOf(t, st, testConn, "")

			fail.Store(true)
			for _, req := range []struct{ method, path, body string }{
				{"PATCH", "/Users/" + uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"CTO"}]}`},
				{"PATCH", "/Users/" + uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`},
				{"PATCH", "/Groups/" + gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, uid)},
				{"POST", "/Users", fmt.Sprintf(`{"schemas":[%q],"userName":"bob@example.com"}`, scim.UserSchema)},
				{"DELETE", "/Groups/" + gid, ""},
				{"DELETE", "/Users/" + uid, ""},
			} {
				r := c.do(t, req.method, req.path, req.body)
				if r.status < 500 {
					t.Errorf("%s %s with its record refused: status %d, want a server error\n%s", req.method, req.path, r.status, r)
				}
			}
			fail.Store(false)
			if after := c.snapshot(t); after != before {
				t.Errorf("a failed transaction changed the data:\nbefore %s\nafter %s", before, after)
			}
			if recs := feedOf(t, st, testConn, ""); len(recs) != len(recsBefore) {
				t.Errorf("%d records after the failures, %d before", len(recs), len(recsBefore))
			}
		})
	}
}

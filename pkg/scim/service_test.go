package scim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// The service is tested on the real embedded store: the semantics under
// test (reactivation, atomic PATCH, membership) span service and store.

var conn = scim.Connection{Tenant: "acme", SSO: "okta"}

const base = "https://scim.example.com/scim/v2/acme/okta"

type harness struct {
	t   *testing.T
	svc *scim.Service
	now time.Time
}

// harnessFactory builds a harness on a fresh store of one kind.
type harnessFactory func(t *testing.T, opts ...scim.Option) *harness

var moto dynamotest.Shared

func TestMain(m *testing.M) { os.Exit(moto.Run(m)) }

// newHarness is a harness on the embedded store.
func newHarness(t *testing.T, opts ...scim.Option) *harness {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "scim.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return newHarnessOn(t, st, opts...)
}

// newDynamoHarness is a harness on a table of its own in moto.
func newDynamoHarness(t *testing.T, opts ...scim.Option) *harness {
	t.Helper()
	srv := moto.Server(t)
	client := srv.Client(t)
	return newHarnessOn(t, dynamostore.New(client, srv.NewTable(t, client)), opts...)
}

// onBothStores runs test with harnesses on the embedded store and on
// DynamoDB: the semantics under test live in the service and the store
// together, and must be the same on both.
func onBothStores(t *testing.T, test func(t *testing.T, newHarness harnessFactory)) {
	t.Run("sqlite", func(t *testing.T) { test(t, newHarness) })
	t.Run("dynamodb", func(t *testing.T) { test(t, newDynamoHarness) })
}

func newHarnessOn(t *testing.T, st scim.Store, opts ...scim.Option) *harness {
	t.Helper()
	h := &harness{t: t, now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	n := 0
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		h.now = h.now.Add(time.Second)
		return h.now
	}
	ids := func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)
	}
	h.svc = scim.NewService(st, append([]scim.Option{scim.WithClock(clock), scim.WithIDGenerator(ids)}, opts...)...)
	return h
}

func (h *harness) create(typ scim.ResourceType, body string) *scim.Resource {
	h.t.Helper()
	res, err := h.svc.Create(context.Background(), conn, typ, []byte(body))
	if err != nil {
		h.t.Fatalf("create %s: %v", body, err)
	}
	return res.Resource
}

func (h *harness) user(userName string) *scim.Resource {
	h.t.Helper()
	return h.create(scim.UserResource, fmt.Sprintf(`{"schemas":[%q],"userName":%q,"name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":%q,"type":"work","primary":true}],"active":true}`, scim.UserSchema, userName, userName))
}

func (h *harness) doc(typ scim.ResourceType, id string) map[string]any {
	h.t.Helper()
	r, err := h.svc.Get(context.Background(), conn, typ, id, true)
	if err != nil {
		h.t.Fatalf("get %s: %v", id, err)
	}
	return roundTrip(h.t, h.svc.Document(context.Background(), r, base))
}

func (h *harness) patch(typ scim.ResourceType, id, ops string) (*scim.Resource, error) {
	h.t.Helper()
	body := fmt.Sprintf(`{"schemas":[%q],"Operations":%s}`, scim.PatchOpSchema, ops)
	return h.svc.Patch(context.Background(), conn, typ, id, []byte(body), scim.Precondition{})
}

// roundTrip renders v as the client sees it.
func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

func wantCode(t *testing.T, err error, code scim.ErrorCode) {
	t.Helper()
	if got := scim.ErrorCodeOf(err); err == nil || got != code {
		t.Fatalf("error = %v (code %s), want code %s", err, got, code)
	}
}

// at reads a dotted path like "name.givenName" or "emails.0.value" from a document.
func at(doc map[string]any, path string) any {
	var cur any = doc
	var parts []string
	if rest, ok := strings.CutPrefix(path, scim.EnterpriseUserSchema); ok {
		// The URN holds dots ("2.0") of its own.
		cur = doc[scim.EnterpriseUserSchema]
		path = strings.TrimPrefix(rest, ".")
	}
	if path != "" {
		parts = strings.Split(path, ".")
	}
	for _, part := range parts {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[part]
		case []any:
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func TestCreateUserDocument(t *testing.T) {
	h := newHarness(t)
	u := h.create(scim.UserResource, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"USERNAME":"ada@example.com","externalId":"00u1","password":"hunter2!",
		"name":{"GivenName":"Ada","familyName":"Lovelace"},"groups":[{"value":"ignored"}],"id":"client-chosen",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"42","manager":{"value":"boss-id"}}}`)
	doc := h.doc(scim.UserResource, u.ID)
	checks := map[string]any{
		"id":                      "00000001-0000-4000-8000-000000000001",
		"userName":                "ada@example.com",
		"externalId":              "00u1",
		"active":                  true,
		"name.givenName":          "Ada",
		"meta.resourceType":       "User",
		"meta.version":            `W/"1"`,
		"meta.created":            "2026-11-02T09:00:01.000Z",
		"meta.location":           base + "/Users/00000001-0000-4000-8000-000000000001",
		"schemas.1":               scim.EnterpriseUserSchema,
		"password":                nil,
		scim.EnterpriseUserSchema: map[string]any{"employeeNumber": "42", "manager": map[string]any{"value": "boss-id"}},
	}
	for path, want := range checks {
		if got := at(doc, path); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if groups, _ := doc["groups"].([]any); len(groups) != 0 {
		t.Errorf("client-sent groups were stored: %v", groups)
	}
}

func TestCreateRejectsBadInput(t *testing.T) { onBothStores(t, testCreateRejectsBadInput) }

func testCreateRejectsBadInput(t *testing.T, newHarness harnessFactory) {
	tests := []struct {
		name string
		body string
		code scim.ErrorCode
		in   string // words the detail must contain
	}{
		{"not JSON", `{"userName":`, scim.EInvalidSyntax, "JSON"},
		{"array body", `[]`, scim.EInvalidSyntax, "object"},
		{"missing userName", `{"name":{"givenName":"A"}}`, scim.EInvalidValue, "userName"},
		{"blank userName", `{"userName":"  "}`, scim.EInvalidValue, "userName"},
		{"wrong type", `{"userName":"a@x","active":"maybe"}`, scim.EInvalidValue, "active"},
		{"unknown attribute", `{"userName":"a@x","shoeSize":44}`, scim.EInvalidValue, "shoeSize"},
		{"unknown sub-attribute", `{"userName":"a@x","name":{"nick":"x"}}`, scim.EInvalidValue, "nick"},
		{"complex as string", `{"userName":"a@x","name":"Ada"}`, scim.EInvalidValue, "name"},
		{"undeclared extension too deep", `{"userName":"a@x","urn:example:ext:1.0:User":{"x":{"y":{"z":1}}}}`, scim.EInvalidValue, "urn:example:ext:1.0:User:x.y"},
		{"schemas not a list", `{"schemas":"x","userName":"a@x"}`, scim.EInvalidSyntax, "schemas"},
		{"two primary emails", `{"userName":"a@x","emails":[{"value":"a@x","primary":true},{"value":"b@x","primary":true}]}`, scim.EInvalidValue, "primary"},
		{"manager as a number", `{"userName":"a@x","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":42}}`, scim.EInvalidValue, "manager"},
	}
	h := newHarness(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.svc.Create(context.Background(), conn, scim.UserResource, []byte(tc.body))
			wantCode(t, err, tc.code)
			if !strings.Contains(scim.ErrorDetailOf(err), tc.in) {
				t.Fatalf("detail %q does not mention %q", scim.ErrorDetailOf(err), tc.in)
			}
		})
	}
	page, err := h.svc.List(context.Background(), conn, scim.UserResource, scim.ListQuery{Count: 10})
	if err != nil || page.TotalResults != 0 {
		t.Fatalf("refused creates stored something: %+v %v", page, err)
	}
}

func TestEntraBooleanStrings(t *testing.T) {
	h := newHarness(t)
	u := h.create(scim.UserResource, `{"userName":"a@x","active":"False","emails":[{"value":"a@x","primary":"True"}]}`)
	doc := h.doc(scim.UserResource, u.ID)
	if doc["active"] != false || at(doc, "emails.0.primary") != true {
		t.Fatalf("booleans not coerced: %v", doc)
	}
}

// TestReactivation pins the product's assignment semantics: an IdP that
// re-assigns a user POSTs it again; a deactivated match is reactivated in
// place, an active match is a conflict.
func TestReactivation(t *testing.T) { onBothStores(t, testReactivation) }

func testReactivation(t *testing.T, newHarness harnessFactory) {
	tests := []struct {
		name      string
		first     string
		again     string
		wantExtID string
	}{
		{"by externalId", `{"userName":"ada@example.com","externalId":"00u1"}`, `{"userName":"ada.l@example.com","externalId":"00u1","title":"CTO"}`, "00u1"},
		{"by userName without externalId", `{"userName":"ada@example.com"}`, `{"userName":"ADA@example.com","title":"CTO"}`, ""},
		{"by userName keeps the known externalId", `{"userName":"ada@example.com","externalId":"00u1"}`, `{"userName":"ada@example.com","title":"CTO"}`, "00u1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			u := h.create(scim.UserResource, tc.first)
			g := h.create(scim.GroupResource, fmt.Sprintf(`{"displayName":"Eng","members":[{"value":%q}]}`, u.ID))

			_, err := h.svc.Create(ctx, conn, scim.UserResource, []byte(tc.again))
			wantCode(t, err, scim.EUniqueness) // still active: 409

			if _, err := h.patch(scim.UserResource, u.ID, `[{"op":"replace","value":{"active":false}}]`); err != nil {
				t.Fatalf("deactivate: %v", err)
			}
			deactivated := h.doc(scim.UserResource, u.ID)
			if deactivated["active"] != false || len(deactivated["groups"].([]any)) != 1 {
				t.Fatalf("deactivated user: %v", deactivated)
			}
			res, err := h.svc.Create(ctx, conn, scim.UserResource, []byte(tc.again))
			if err != nil {
				t.Fatalf("re-assign: %v", err)
			}
			if !res.Reactivated || res.Resource.ID != u.ID {
				t.Fatalf("re-assign created %s (reactivated=%v), want the same user %s", res.Resource.ID, res.Reactivated, u.ID)
			}
			doc := h.doc(scim.UserResource, u.ID)
			if doc["active"] != true || doc["title"] != "CTO" || doc["meta"].(map[string]any)["version"] != `W/"3"` {
				t.Fatalf("reactivated user: %v", doc)
			}
			if got, _ := doc["externalId"].(string); got != tc.wantExtID {
				t.Fatalf("externalId = %q, want %q", got, tc.wantExtID)
			}
			// Membership survived deactivation and reactivation.
			if members := h.doc(scim.GroupResource, g.ID)["members"].([]any); len(members) != 1 {
				t.Fatalf("members = %v", members)
			}
			page, _ := h.svc.List(ctx, conn, scim.UserResource, scim.ListQuery{Count: 10})
			if page.TotalResults != 1 {
				t.Fatalf("total users = %d, want 1", page.TotalResults)
			}
		})
	}
}

func TestDeleteFreesUserNameButKeepsOthers(t *testing.T) {
	onBothStores(t, testDeleteFreesUserNameButKeepsOthers)
}

func testDeleteFreesUserNameButKeepsOthers(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.user("ada@example.com")
	if err := h.svc.Delete(ctx, conn, scim.UserResource, u.ID, scim.Precondition{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := h.svc.Get(ctx, conn, scim.UserResource, u.ID, false)
	wantCode(t, err, scim.ENotFound)
	wantCode(t, h.svc.Delete(ctx, conn, scim.UserResource, u.ID, scim.Precondition{}), scim.ENotFound)
	again := h.user("ada@example.com")
	if again.ID == u.ID {
		t.Fatalf("a deleted user came back with its old id")
	}
}

func TestPatchUser(t *testing.T) { onBothStores(t, testPatchUser) }

func testPatchUser(t *testing.T, newHarness harnessFactory) {
	tests := []struct {
		name  string
		ops   string
		check map[string]any
	}{
		{"Okta deactivate", `[{"op":"replace","value":{"active":false}}]`, map[string]any{"active": false}},
		{"Entra capitalised op and string boolean", `[{"op":"Replace","path":"active","value":"False"}]`, map[string]any{"active": false}},
		{"RFC 7644 §3.5.2.1 add without path", `[{"op":"add","value":{"emails":[{"value":"babs@jensen.org","type":"home"}],"nickName":"Babs"}}]`,
			map[string]any{"nickName": "Babs", "emails.1.value": "babs@jensen.org", "emails.0.value": "ada@example.com"}},
		{"add to multi-valued appends", `[{"op":"add","path":"phoneNumbers","value":[{"value":"555-1234","type":"work"}]}]`, map[string]any{"phoneNumbers.0.value": "555-1234"}},
		{"replace sub-attribute", `[{"op":"replace","path":"name.familyName","value":"Byron"}]`, map[string]any{"name.familyName": "Byron", "name.givenName": "Ada"}},
		{"replace complex merges sub-attributes", `[{"op":"replace","path":"name","value":{"familyName":"Byron"}}]`, map[string]any{"name.familyName": "Byron", "name.givenName": "Ada"}},
		{"Entra dotted keys without path", `[{"op":"replace","value":{"name.givenName":"Augusta","displayName":"A. Ada"}}]`, map[string]any{"name.givenName": "Augusta", "displayName": "A. Ada"}},
		{"value filter sub-attribute", `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"ada@new.example.com"}]`, map[string]any{"emails.0.value": "ada@new.example.com", "emails.0.type": "work"}},
		{"value filter creates the element Entra expects", `[{"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"555-0000"}]`, map[string]any{"phoneNumbers.0.value": "555-0000", "phoneNumbers.0.type": "mobile"}},
		{"RFC 7644 §3.5.2.2 remove by filter", `[{"op":"remove","path":"emails[type eq \"work\" and value ew \"example.com\"]"}]`, map[string]any{"emails": nil}},
		{"remove attribute", `[{"op":"remove","path":"name.givenName"}]`, map[string]any{"name.givenName": nil, "name.familyName": "Lovelace"}},
		{"enterprise URN path", `[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"R&D"}]`,
			map[string]any{scim.EnterpriseUserSchema + ".department": "R&D", "schemas.1": scim.EnterpriseUserSchema}},
		{"Entra manager as object", `[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"boss"}}]`,
			map[string]any{scim.EnterpriseUserSchema + ".manager.value": "boss"}},
		{"extension object without path", `[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7"}}}]`,
			map[string]any{scim.EnterpriseUserSchema + ".employeeNumber": "7"}},
		{"a new primary email demotes the old one", `[{"op":"add","path":"emails","value":[{"value":"ada@new.example.com","type":"home","primary":true}]}]`,
			map[string]any{"emails.0.primary": nil, "emails.1.primary": true}},
		{"a filtered primary demotes the others", `[{"op":"add","path":"emails","value":[{"value":"h@x.com","type":"home"}]},{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}]`,
			map[string]any{"emails.0.primary": nil, "emails.1.primary": true}},
		{"Entra manager as a bare id", `[{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"boss-2"}]`,
			map[string]any{scim.EnterpriseUserSchema + ".manager.value": "boss-2"}},
		{"readOnly id in value is ignored", `[{"op":"replace","value":{"id":"other","title":"Dr"}}]`, map[string]any{"title": "Dr"}},
		{"several operations in order", `[{"op":"add","path":"title","value":"A"},{"op":"replace","path":"title","value":"B"}]`, map[string]any{"title": "B"}},
		{"empty Operations change nothing", `[]`, map[string]any{"meta.version": `W/"1"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			u := h.user("ada@example.com")
			if _, err := h.patch(scim.UserResource, u.ID, tc.ops); err != nil {
				t.Fatalf("patch: %v", err)
			}
			doc := h.doc(scim.UserResource, u.ID)
			for path, want := range tc.check {
				if got := at(doc, path); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v (doc %v)", path, got, want, doc)
				}
			}
		})
	}
}

func TestPatchErrorsChangeNothing(t *testing.T) { onBothStores(t, testPatchErrorsChangeNothing) }

func testPatchErrorsChangeNothing(t *testing.T, newHarness harnessFactory) {
	tests := []struct {
		name string
		ops  string
		code scim.ErrorCode
	}{
		{"remove without path", `[{"op":"remove"}]`, scim.ENoTarget},
		{"unknown op", `[{"op":"merge","path":"title","value":"x"}]`, scim.EInvalidSyntax},
		{"add without value", `[{"op":"add","path":"title"}]`, scim.EInvalidValue},
		{"unknown attribute", `[{"op":"add","path":"shoeSize","value":1}]`, scim.EInvalidPath},
		{"garbage path", `[{"op":"add","path":"emails[type eq","value":1}]`, scim.EInvalidPath},
		{"read-only path", `[{"op":"replace","path":"id","value":"x"}]`, scim.EMutability},
		{"read-only meta", `[{"op":"replace","path":"meta.version","value":"x"}]`, scim.EMutability},
		{"wrong value type", `[{"op":"replace","path":"active","value":"perhaps"}]`, scim.EInvalidValue},
		{"removing userName", `[{"op":"remove","path":"userName"}]`, scim.EInvalidValue},
		{"valid then invalid is atomic", `[{"op":"replace","path":"title","value":"Boss"},{"op":"replace","path":"active","value":42}]`, scim.EInvalidValue},
		{"filter on a simple attribute", `[{"op":"replace","path":"title[value eq \"x\"]","value":"y"}]`, scim.EInvalidPath},
		{"no target for a non-eq filter", `[{"op":"replace","path":"emails[value co \"zzz\"].type","value":"home"}]`, scim.ENoTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			u := h.user("ada@example.com")
			before := h.doc(scim.UserResource, u.ID)
			_, err := h.patch(scim.UserResource, u.ID, tc.ops)
			wantCode(t, err, tc.code)
			if after := h.doc(scim.UserResource, u.ID); !reflect.DeepEqual(before, after) {
				t.Fatalf("refused PATCH changed the user:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	h := newHarness(t)
	u := h.user("ada@example.com")
	for _, body := range []string{`{"Operations":{}}`, `{"schemas":[]}`, `nope`} {
		_, err := h.svc.Patch(context.Background(), conn, scim.UserResource, u.ID, []byte(body), scim.Precondition{})
		wantCode(t, err, scim.EInvalidSyntax)
	}
	_, err := h.patch(scim.UserResource, "00000000-0000-4000-8000-00000000dead", `[{"op":"replace","value":{"active":false}}]`)
	wantCode(t, err, scim.ENotFound)
}

func memberValues(doc map[string]any) []string {
	var ids []string
	members, _ := doc["members"].([]any) // absent when empty (RFC 7643 §2.5)
	for _, m := range members {
		ids = append(ids, m.(map[string]any)["value"].(string))
	}
	sort.Strings(ids)
	return ids
}

func TestGroupMembership(t *testing.T) { onBothStores(t, testGroupMembership) }

func testGroupMembership(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	ctx := context.Background()
	a, b, c := h.user("a@x.com"), h.user("b@x.com"), h.user("c@x.com")
	g := h.create(scim.GroupResource, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[]}`)
	steps := []struct {
		name string
		ops  string
		want []string
	}{
		{"Okta add", fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q,"display":"a"},{"value":%q}]}]`, a.ID, b.ID), []string{a.ID, b.ID}},
		{"Okta remove by filter", fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, a.ID), []string{b.ID}},
		{"remove a non-member is a no-op", fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, a.ID), []string{b.ID}},
		{"Entra remove with value list", fmt.Sprintf(`[{"op":"Remove","path":"members","value":[{"value":%q}]}]`, b.ID), nil},
		{"Okta replace all", fmt.Sprintf(`[{"op":"replace","path":"members","value":[{"value":%q},{"value":%q}]}]`, a.ID, c.ID), []string{a.ID, c.ID}},
		{"rename carrying id, members untouched", fmt.Sprintf(`[{"op":"replace","value":{"id":%q,"displayName":"Platform"}}]`, g.ID), []string{a.ID, c.ID}},
		{"remove with or-filter", fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\" or value eq \"%s\"]"}]`, a.ID, c.ID), nil},
		{"add then remove in one request", fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]},{"op":"remove","path":"members[value eq \"%s\"]"}]`, a.ID, a.ID), nil},
		{"no-path add of members", fmt.Sprintf(`[{"op":"add","value":{"members":[{"value":%q}]}}]`, b.ID), []string{b.ID}},
		{"remove all", `[{"op":"remove","path":"members"}]`, nil},
	}
	for _, st := range steps {
		if _, err := h.patch(scim.GroupResource, g.ID, st.ops); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := memberValues(h.doc(scim.GroupResource, g.ID)); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("%s: members = %v, want %v", st.name, got, st.want)
		}
	}
	if name := h.doc(scim.GroupResource, g.ID)["displayName"]; name != "Platform" {
		t.Fatalf("displayName = %v", name)
	}

	// An unknown member fails the whole PATCH, naming the id.
	_, err := h.patch(scim.GroupResource, g.ID, fmt.Sprintf(`[{"op":"replace","value":{"displayName":"Renamed"}},{"op":"add","path":"members","value":[{"value":%q},{"value":"ffffffff-0000-4000-8000-00000000ffff"}]}]`, a.ID))
	wantCode(t, err, scim.EInvalidValue)
	if !strings.Contains(scim.ErrorDetailOf(err), "ffffffff-0000-4000-8000-00000000ffff") {
		t.Fatalf("detail does not name the member: %q", scim.ErrorDetailOf(err))
	}
	doc := h.doc(scim.GroupResource, g.ID)
	if doc["displayName"] != "Platform" || len(memberValues(doc)) != 0 {
		t.Fatalf("refused PATCH applied something: %v", doc)
	}

	// PUT replaces members (RFC 7644 §3.5.1); the user's groups follow.
	put := fmt.Sprintf(`{"schemas":[%q],"id":%q,"displayName":"Platform","members":[{"value":%q}],"meta":{"version":"x"}}`, scim.GroupSchema, g.ID, c.ID)
	res, err := h.svc.Replace(ctx, conn, scim.GroupResource, g.ID, []byte(put), scim.Precondition{})
	if err != nil {
		t.Fatalf("put group: %v", err)
	}
	if len(res.Members) != 1 || res.Members[0].Value != c.ID {
		t.Fatalf("PUT returned members %v", res.Members)
	}
	groups := h.doc(scim.UserResource, c.ID)["groups"].([]any)
	if len(groups) != 1 || at(groups[0].(map[string]any), "value") != g.ID || at(groups[0].(map[string]any), "$ref") != base+"/Groups/"+g.ID {
		t.Fatalf("c.groups = %v", groups)
	}
	// Deleting the group removes it from its members' groups.
	if err := h.svc.Delete(ctx, conn, scim.GroupResource, g.ID, scim.Precondition{}); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	if groups, _ := h.doc(scim.UserResource, c.ID)["groups"].([]any); len(groups) != 0 {
		t.Fatalf("groups after group delete = %v", groups)
	}
}

func TestPreconditions(t *testing.T) { onBothStores(t, testPreconditions) }

func testPreconditions(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	ctx := context.Background()
	u := h.user("ada@example.com")
	body := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"x"}]}`)
	_, err := h.svc.Patch(ctx, conn, scim.UserResource, u.ID, body, scim.IfMatch(7))
	wantCode(t, err, scim.EPreconditionFailed)
	res, err := h.svc.Patch(ctx, conn, scim.UserResource, u.ID, body, scim.IfMatch(1))
	if err != nil || res.Version != 2 {
		t.Fatalf("patch with current If-Match: %v %v", res, err)
	}
	wantCode(t, h.svc.Delete(ctx, conn, scim.UserResource, u.ID, scim.IfMatch(1)), scim.EPreconditionFailed)
	_, err = h.svc.Replace(ctx, conn, scim.UserResource, u.ID, []byte(`{"userName":"ada@example.com","id":"someone-else"}`), scim.Precondition{})
	wantCode(t, err, scim.EMutability)
}

// TestConcurrentPatchesAllApply: PATCHes racing on one user are retried on
// version conflicts, so none is lost and none overwrites another.
func TestConcurrentPatchesAllApply(t *testing.T) { onBothStores(t, testConcurrentPatchesAllApply) }

func testConcurrentPatchesAllApply(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	u := h.user("ada@example.com")
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.patch(scim.UserResource, u.ID, fmt.Sprintf(`[{"op":"add","path":"roles","value":[{"value":"role%d"}]}]`, i))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && scim.ErrorCodeOf(err) != scim.EConflict {
			t.Fatalf("patch: %v", err)
		}
	}
	doc := h.doc(scim.UserResource, u.ID)
	applied := 0
	for _, err := range errs {
		if err == nil {
			applied++
		}
	}
	roles, _ := doc["roles"].([]any)
	if len(roles) != applied || at(doc, "meta.version") != fmt.Sprintf(`W/"%d"`, 1+applied) {
		t.Fatalf("%d patches succeeded but roles = %v, version %v", applied, roles, at(doc, "meta.version"))
	}
}

// TestLargeGroupIsBounded: a group read stops at MaxGroupMembers+1 members
// and answers tooMany rather than a partial list, while PATCH add/remove
// and excludedAttributes=members keep working at any size.
func TestLargeGroupIsBounded(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var ids []string
	var members []string
	for i := range scim.MaxGroupMembers + 1 {
		res, err := h.svc.Create(ctx, conn, scim.UserResource, []byte(fmt.Sprintf(`{"userName":"u%05d"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Resource.ID)
		members = append(members, fmt.Sprintf(`{"value":%q}`, res.Resource.ID))
	}
	g := h.create(scim.GroupResource, `{"displayName":"Everyone"}`)
	// One PATCH names at most MaxMembersPerRequest members.
	for _, batch := range [][]string{members[:scim.MaxMembersPerRequest], members[scim.MaxMembersPerRequest:]} {
		if _, err := h.patch(scim.GroupResource, g.ID, `[{"op":"add","path":"members","value":[`+strings.Join(batch, ",")+`]}]`); err != nil {
			t.Fatalf("add %d members: %v", len(batch), err)
		}
	}
	_, err := h.svc.Get(ctx, conn, scim.GroupResource, g.ID, true)
	wantCode(t, err, scim.ETooMany)
	_, err = h.svc.List(ctx, conn, scim.GroupResource, scim.ListQuery{Count: 10, WithMembers: true})
	wantCode(t, err, scim.ETooMany)
	_, err = h.patch(scim.GroupResource, g.ID, `[{"op":"replace","path":"members","value":[]}]`)
	wantCode(t, err, scim.ETooMany)
	if r, err := h.svc.Get(ctx, conn, scim.GroupResource, g.ID, false); err != nil || len(r.Members) != 0 {
		t.Fatalf("get without members: %v %v", r, err)
	}
	if _, err := h.patch(scim.GroupResource, g.ID, fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, ids[0])); err != nil {
		t.Fatalf("remove one member: %v", err)
	}
	r, err := h.svc.Get(ctx, conn, scim.GroupResource, g.ID, true)
	if err != nil || len(r.Members) != scim.MaxGroupMembers {
		t.Fatalf("at the bound: %d members, %v", len(r.Members), err)
	}
}

// racingStore makes another writer win between the service's read and its
// conditional write, once: the write then fails with EConflict.
type racingStore struct {
	scim.Store
	raced bool
}

func (s *racingStore) race(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string) {
	if s.raced {
		return
	}
	s.raced = true
	cur, err := s.Store.Get(ctx, conn, typ, id, false)
	if err != nil {
		panic(err)
	}
	next := *cur
	next.Version++
	if err := s.Store.Replace(ctx, &next, cur.Version); err != nil {
		panic(err)
	}
}

func (s *racingStore) Replace(ctx context.Context, r *scim.Resource, prev int64) error {
	s.race(ctx, r.Conn, r.Type, r.ID)
	return s.Store.Replace(ctx, r, prev)
}

// Update lets the other writer win just before the store's atomic
// read-modify-write: without If-Match the change applies to the newer
// version, with If-Match the version read is no longer the one named.
func (s *racingStore) Update(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, withMembers bool, modify func(*scim.Resource) (*scim.Change, error)) (*scim.Resource, error) {
	s.race(ctx, conn, typ, id)
	return s.Store.Update(ctx, conn, typ, id, withMembers, modify)
}

func (s *racingStore) Delete(ctx context.Context, conn scim.Connection, typ scim.ResourceType, id string, prev int64, at time.Time) error {
	s.race(ctx, conn, typ, id)
	return s.Store.Delete(ctx, conn, typ, id, prev, at)
}

// TestLostRaces: without If-Match a lost race is retried and succeeds; with
// If-Match it is 412, for updates and deletes alike (RFC 7644 §3.14).
func TestLostRaces(t *testing.T) {
	ctx := context.Background()
	patch := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"x"}]}`)
	tests := []struct {
		name string
		do   func(svc *scim.Service, id string) error
		want scim.ErrorCode // "" for success
	}{
		{"PATCH retried", func(svc *scim.Service, id string) error {
			_, err := svc.Patch(ctx, conn, scim.UserResource, id, patch, scim.Precondition{})
			return err
		}, ""},
		{"PATCH with If-Match", func(svc *scim.Service, id string) error {
			_, err := svc.Patch(ctx, conn, scim.UserResource, id, patch, scim.IfMatch(1))
			return err
		}, scim.EPreconditionFailed},
		{"DELETE retried", func(svc *scim.Service, id string) error {
			return svc.Delete(ctx, conn, scim.UserResource, id, scim.Precondition{})
		}, ""},
		{"DELETE with If-Match", func(svc *scim.Service, id string) error {
			return svc.Delete(ctx, conn, scim.UserResource, id, scim.IfMatch(1))
		}, scim.EPreconditionFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "scim.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			racing := &racingStore{Store: st}
			h := newHarnessOn(t, racing)
			u := h.user("ada@example.com")
			err = tc.do(h.svc, u.ID)
			if tc.want == "" && err != nil {
				t.Fatalf("lost race not retried: %v", err)
			}
			if tc.want != "" {
				wantCode(t, err, tc.want)
			}
			if !racing.raced {
				t.Fatalf("the race never happened")
			}
		})
	}
}

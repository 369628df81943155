package scim_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

// filterUsers are three users whose attributes the filter table selects from.
func filterUsers(t *testing.T, h *harness) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, body := range []string{
		`{"userName":"bjensen@example.com","externalId":"00uBJ","name":{"familyName":"Jensen","givenName":"Barbara"},"title":"Tour Guide","userType":"Employee",
		  "emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}],
		  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","manager":{"value":"mgr-1"}}}`,
		`{"userName":"jsmith@example.org","externalId":"00uJS","name":{"familyName":"Smith","givenName":"John"},"active":false,
		  "emails":[{"value":"john@example.org","type":"work"}]}`,
		`{"userName":"Ada@Example.com","name":{"familyName":"Lovelace","givenName":"Ada"},"title":"Countess"}`,
	} {
		u := h.create(scim.UserResource, body)
		ids[u.Name] = u.ID
	}
	return ids
}

// TestFilters runs filters from RFC 7644 §3.4.2.2 and the forms Okta and
// Entra send, on the same evaluation both stores use.
func TestFilters(t *testing.T) { onBothStores(t, testFilters) }

func testFilters(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	ids := filterUsers(t, h)
	bj, js, ada := "bjensen@example.com", "jsmith@example.org", "Ada@Example.com"
	tests := []struct {
		filter string
		want   []string
	}{
		{`userName eq "bjensen@example.com"`, []string{bj}},
		{`userName eq "BJENSEN@EXAMPLE.COM"`, []string{bj}}, // userName is caseExact=false
		{`USERNAME Eq "ada@example.com"`, []string{ada}},
		{`externalId eq "00uBJ"`, []string{bj}},
		{`externalId eq "00ubj"`, nil}, // externalId is caseExact
		{`emails.value eq "babs@jensen.org"`, []string{bj}},
		{`emails eq "john@example.org"`, []string{js}}, // compares emails.value (RFC 7644 §3.4.2.2)
		{`name.familyName co "O"`, []string{ada}},
		{`userName sw "J"`, []string{js}},
		{`userName ew ".org"`, []string{js}},
		{`title pr`, []string{bj, ada}},
		{`title pr and userType eq "Employee"`, []string{bj}},
		{`title pr or userType eq "Intern"`, []string{bj, ada}},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, []string{bj}},
		{`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, []string{ada}},
		{`emails[type eq "work" and value co "@example.com"]`, []string{bj}},
		{`emails[type eq "home"] or name.givenName eq "John"`, []string{bj, js}},
		{`active eq false`, []string{js}},
		{`active eq true`, []string{bj, ada}},
		{`meta.lastModified gt "2026-11-02T09:00:01Z"`, []string{js, ada}},
		{`meta.created ge "2026-11-02T09:00:01.000Z" and meta.created lt "2026-11-02T09:00:02Z"`, []string{bj}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`, []string{bj}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "mgr-1"`, []string{bj}},
		{`urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "Ada"`, []string{ada}},
		{`meta.resourceType eq "User"`, []string{bj, js, ada}},
		{`userName eq "bjensen@example.com" and active eq false`, nil},
		{`displayName eq null`, []string{bj, js, ada}},
		{`title eq "Tour \"Guide\""`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			page, err := h.svc.List(context.Background(), conn, scim.UserResource, scim.ListQuery{Filter: tc.filter, Count: 100, BaseURL: base})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			var got []string
			for _, r := range page.Resources {
				got = append(got, r.Name)
			}
			sort.Strings(got)
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) || page.TotalResults != len(want) {
				t.Fatalf("got %v (total %d), want %v", got, page.TotalResults, want)
			}
		})
	}
	t.Run("id eq", func(t *testing.T) {
		page, err := h.svc.List(context.Background(), conn, scim.UserResource, scim.ListQuery{Filter: fmt.Sprintf(`id eq %q`, ids[bj]), Count: 10})
		if err != nil || page.TotalResults != 1 || page.Resources[0].ID != ids[bj] {
			t.Fatalf("id eq: %+v %v", page, err)
		}
	})
}

func TestFilterErrors(t *testing.T) {
	h := newHarness(t)
	for _, f := range []string{
		`userName eq`,
		`userName eq "x" and`,
		`(userName eq "x"`,
		`shoeSize eq 44`,
		`name eq "x"`,
		`name.nick eq "x"`,
		`active eq "yes"`,
		`active gt true`,
		`meta.created gt "yesterday"`,
		`emails[nope eq "x"]`,
		`userName xx "x"`,
		`urn:example:unknown:1.0:User:x eq "y"`,
	} {
		t.Run(f, func(t *testing.T) {
			_, err := h.svc.List(context.Background(), conn, scim.UserResource, scim.ListQuery{Filter: f, Count: 10})
			wantCode(t, err, scim.EInvalidFilter)
			if d := scim.ErrorDetailOf(err); d == "" || strings.Contains(d, "internal") {
				t.Fatalf("unhelpful detail %q", d)
			}
		})
	}
}

func TestGroupFilters(t *testing.T) { onBothStores(t, testGroupFilters) }

func testGroupFilters(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	u := h.user("a@x.com")
	g := h.create(scim.GroupResource, fmt.Sprintf(`{"displayName":"Engineering","externalId":"g-1","members":[{"value":%q}]}`, u.ID))
	h.create(scim.GroupResource, `{"displayName":"Sales"}`)
	tests := []struct {
		filter      string
		withMembers bool
		want        int
	}{
		{`displayName eq "engineering"`, false, 1},
		{`externalId eq "g-1"`, false, 1},
		{fmt.Sprintf(`id eq %q`, g.ID), false, 1},
		{`displayName sw "S"`, false, 1},
		{fmt.Sprintf(`members.value eq %q`, u.ID), true, 1},
		{`displayName eq "Nope"`, false, 0},
	}
	for _, tc := range tests {
		page, err := h.svc.List(context.Background(), conn, scim.GroupResource, scim.ListQuery{Filter: tc.filter, Count: 10, WithMembers: tc.withMembers})
		if err != nil || page.TotalResults != tc.want {
			t.Fatalf("%s: %+v %v", tc.filter, page, err)
		}
	}
}

func TestListPagingAndBounds(t *testing.T) { onBothStores(t, testListPagingAndBounds) }

func testListPagingAndBounds(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t, scim.WithMaxFilterScan(4), scim.WithMaxPageSize(3))
	for i := range 7 {
		h.user(fmt.Sprintf("user%d@x.com", i))
	}
	ctx := context.Background()
	tests := []struct {
		q         scim.ListQuery
		wantLen   int
		wantStart int
	}{
		{scim.ListQuery{StartIndex: 1, Count: 2}, 2, 1},
		{scim.ListQuery{StartIndex: 6, Count: 2}, 2, 6},
		{scim.ListQuery{StartIndex: 7, Count: 2}, 1, 7},
		{scim.ListQuery{StartIndex: 0, Count: 0}, 0, 1},
		{scim.ListQuery{StartIndex: -5, Count: 100}, 3, 1}, // clamped to the maximum page size
		{scim.ListQuery{StartIndex: 50, Count: 2}, 0, 50},
	}
	for _, tc := range tests {
		page, err := h.svc.List(ctx, conn, scim.UserResource, tc.q)
		if err != nil || len(page.Resources) != tc.wantLen || page.StartIndex != tc.wantStart || page.TotalResults != 7 {
			t.Fatalf("%+v: got %d resources, start %d, total %d, err %v", tc.q, len(page.Resources), page.StartIndex, page.TotalResults, err)
		}
	}
	// A filter no key answers reads at most maxFilterScan resources.
	_, err := h.svc.List(ctx, conn, scim.UserResource, scim.ListQuery{Filter: `title pr`, Count: 10})
	wantCode(t, err, scim.ETooMany)
	// A key lookup is never bounded by the scan limit.
	page, err := h.svc.List(ctx, conn, scim.UserResource, scim.ListQuery{Filter: `userName eq "user6@x.com"`, Count: 10})
	if err != nil || page.TotalResults != 1 {
		t.Fatalf("key lookup: %+v %v", page, err)
	}
}

func TestProjection(t *testing.T) {
	h := newHarness(t)
	u := h.create(scim.UserResource, `{"userName":"a@x.com","title":"Dr","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@x.com","type":"work"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","costCenter":"1"}}`)
	tests := []struct {
		attributes, excluded string
		wantKeys             []string
		check                map[string]any
	}{
		{"userName", "", []string{"id", "schemas", "userName"}, nil},
		{"name.givenName,EMAILS", "", []string{"emails", "id", "name", "schemas"}, map[string]any{"name.givenName": "A", "name.familyName": nil}},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "", []string{"id", "schemas", scim.EnterpriseUserSchema},
			map[string]any{scim.EnterpriseUserSchema + ".department": "R&D", scim.EnterpriseUserSchema + ".costCenter": nil}},
		{"", "emails,name.familyName,id,groups", nil, map[string]any{"emails": nil, "name.familyName": nil, "name.givenName": "A", "id": u.ID, "title": "Dr"}},
	}
	for _, tc := range tests {
		proj, err := h.svc.ParseProjection(context.Background(), scim.UserResource, tc.attributes, tc.excluded)
		if err != nil {
			t.Fatalf("parse %q/%q: %v", tc.attributes, tc.excluded, err)
		}
		r, _ := h.svc.Get(context.Background(), conn, scim.UserResource, u.ID, false)
		doc := roundTrip(t, h.svc.Apply(context.Background(), scim.UserResource, h.svc.Document(context.Background(), r, base), proj))
		if tc.wantKeys != nil {
			var keys []string
			for k := range doc {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if !reflect.DeepEqual(keys, tc.wantKeys) {
				t.Fatalf("%q: keys %v, want %v", tc.attributes, keys, tc.wantKeys)
			}
		}
		for path, want := range tc.check {
			if got := at(doc, path); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q/%q: %s = %v, want %v", tc.attributes, tc.excluded, path, got, want)
			}
		}
	}
	_, err := h.svc.ParseProjection(context.Background(), scim.UserResource, "shoeSize", "")
	wantCode(t, err, scim.EInvalidValue)
	proj, _ := h.svc.ParseProjection(context.Background(), scim.GroupResource, "", "members")
	if proj.Wants("members") {
		t.Fatalf("excludedAttributes=members still wants members")
	}
}

// TestFilterTolerance: what real clients send that the grammar does not allow.
func TestFilterTolerance(t *testing.T) {
	h := newHarness(t)
	h.create(scim.UserResource, `{"userName":"Test_User_00aa00aa-00aa-00aa-00aa-00aa00aa00aa","emails":[{"value":"t@x.com","type":"work","primary":true}]}`)
	for _, f := range []string{
		`userName eq Test_User_00aa00aa-00aa-00aa-00aa-00aa00aa00aa`,
		`emails[type eq "work" and primary eq True]`,
		`emails[type eq work and primary eq TRUE]`,
		`active eq True and userName sw Test_`,
	} {
		page, err := h.svc.List(context.Background(), conn, scim.UserResource, scim.ListQuery{Filter: f, Count: 10})
		if err != nil || page.TotalResults != 1 {
			t.Errorf("%s: %+v %v", f, page, err)
		}
	}
	_, err := h.svc.List(context.Background(), conn, scim.UserResource, scim.ListQuery{Filter: `userName eq "x" and`, Count: 10})
	if d := scim.ErrorDetailOf(err); !strings.Contains(d, "character") {
		t.Fatalf("detail does not point at a position: %q", d)
	}
}

func TestEntraWorkEmailFilter(t *testing.T) { onBothStores(t, testEntraWorkEmailFilter) }

func testEntraWorkEmailFilter(t *testing.T, newHarness harnessFactory) {
	h := newHarness(t)
	h.create(scim.UserResource, `{"userName":"u1","emails":[{"value":"Test@x.com","type":"work"},{"value":"home@x.com","type":"home"}]}`)
	tests := []struct {
		filter string
		want   int
	}{
		{`emails[type eq "work"].value eq "test@x.com"`, 1},
		{`emails[type eq "home"].value eq "test@x.com"`, 0},
		{`emails[type eq "work"].value pr`, 1},
		{`emails[type eq "work"].value eq "test@x.com" and userName eq "u1"`, 1},
	}
	for _, tc := range tests {
		page, err := h.svc.List(context.Background(), conn, scim.UserResource, scim.ListQuery{Filter: tc.filter, Count: 10})
		if err != nil || page.TotalResults != tc.want {
			t.Errorf("%s: %+v %v", tc.filter, page, err)
		}
	}
}

func TestUnqualifiedExtensionAttributes(t *testing.T) {
	h := newHarness(t)
	u := h.create(scim.UserResource, `{"userName":"u1","department":"R&D","manager":null,"nickName":null,"unknownButNull":null}`)
	if _, err := h.patch(scim.UserResource, u.ID, `[{"op":"Add","path":"manager","value":[{"$ref":"https://x/Users/boss","value":"boss"}]}]`); err != nil {
		t.Fatalf("patch manager: %v", err)
	}
	doc := h.doc(scim.UserResource, u.ID)
	if at(doc, scim.EnterpriseUserSchema+".department") != "R&D" || at(doc, scim.EnterpriseUserSchema+".manager.value") != "boss" {
		t.Fatalf("extension attributes: %v", doc)
	}
	_, err := h.svc.Create(context.Background(), conn, scim.UserResource, []byte(`{"userName":"u2","unknownAttr":"x"}`))
	wantCode(t, err, scim.EInvalidValue)
}

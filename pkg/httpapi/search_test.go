package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

// TestSortCursorAndSearch covers RFC 7644 §3.4.2.3 sorting, RFC 9865 cursor
// pagination and RFC 7644 §3.4.3 POST .search.
func TestSortCursorAndSearch(t *testing.T) {
	forEachStore(t, testSortCursorAndSearch)
}

func testSortCursorAndSearch(t *testing.T, srv *testServer) {
	c := srv.client(t, testConn)
	var ids []string
	for _, name := range []string{"carol@x.com", "alice@x.com", "bob@x.com", "dave@x.com"} {
		ids = append(ids, c.createUser(t, name))
	}
	carol, alice, bob, dave := ids[0], ids[1], ids[2], ids[3]
	group := c.createGroup(t, "Eng", alice, bob)

	t.Run("sortBy", func(t *testing.T) {
		tests := []struct {
			query string
			want  []string
		}{
			{"sortBy=userName", []string{alice, bob, carol, dave}},
			{"sortBy=USERNAME&sortOrder=descending", []string{dave, carol, bob, alice}},
			{"sortBy=userName&startIndex=2&count=2", []string{bob, carol}},
			{"sortBy=userName&filter=" + url.QueryEscape(`userName ne "bob@x.com"`), []string{alice, carol, dave}},
			{"sortBy=meta.created&sortOrder=descending&count=1", []string{dave}},
		}
		for _, tc := range tests {
			if got := resourceIDs(t, c.get(t, "/Users?"+tc.query)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
			}
		}
		for _, bad := range []string{"sortBy=shoeSize", "sortBy=userName&sortOrder=sideways", "sortBy=name"} {
			r := c.do(t, "GET", "/Users?"+bad, "")
			mustStatus(t, r, http.StatusBadRequest)
			if r.object(t)["scimType"] != "invalidValue" {
				t.Errorf("%s: %s", bad, r)
			}
		}
	})

	t.Run("cursor walks every user once", func(t *testing.T) {
		for _, query := range []string{"count=3", "count=1&filter=" + url.QueryEscape(`userName ew "x.com"`), "count=2&sortBy=userName"} {
			var walked []string
			cursor := ""
			for range 10 {
				page := c.get(t, "/Users?"+query+"&cursor="+url.QueryEscape(cursor))
				if _, has := page["startIndex"]; has {
					t.Fatalf("%s: cursor page carries startIndex: %v", query, page)
				}
				walked = append(walked, resourceIDs(t, page)...)
				next, _ := page["nextCursor"].(string)
				if next == "" {
					break
				}
				cursor = next
			}
			if len(walked) != 4 {
				t.Fatalf("%s: walked %v", query, walked)
			}
		}
		for _, bad := range []string{"cursor=bm9wZQ", "cursor=YTo", "cursor=&startIndex=1"} {
			r := c.do(t, "GET", "/Users?"+bad, "")
			mustStatus(t, r, http.StatusBadRequest)
		}
		r := c.do(t, "GET", "/Users?cursor=bm9wZQ", "")
		if r.object(t)["scimType"] != "invalidCursor" {
			t.Fatalf("garbage cursor: %s", r)
		}
	})

	t.Run(".search", func(t *testing.T) {
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"attributes":["userName"],"filter":"userName sw \"a\" or userName sw \"b\"","sortBy":"userName","startIndex":1,"count":10}`
		r := c.do(t, "POST", "/Users/.search", body)
		mustStatus(t, r, http.StatusOK)
		list := r.object(t)
		if got := resourceIDs(t, list); !reflect.DeepEqual(got, []string{alice, bob}) {
			t.Fatalf("users search: %v", got)
		}
		first := list["Resources"].([]any)[0].(map[string]any)
		if _, has := first["meta"]; has || first["userName"] != "alice@x.com" {
			t.Fatalf("attributes not applied: %v", first)
		}
		r = c.do(t, "POST", "/Groups/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"excludedAttributes":["members"]}`)
		mustStatus(t, r, http.StatusOK)
		g := r.object(t)["Resources"].([]any)[0].(map[string]any)
		if _, has := g["members"]; has || g["id"] != group {
			t.Fatalf("groups search: %v", g)
		}
		// The root search spans both types; userName is not a group attribute, so groups simply do not match it.
		r = c.do(t, "POST", "/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"carol@x.com\""}`)
		mustStatus(t, r, http.StatusOK)
		if got := resourceIDs(t, r.object(t)); len(got) != 1 || got[0] != carol {
			t.Fatalf("root search with a user-only attribute: %v", got)
		}
		r = c.do(t, "POST", "/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"meta.resourceType eq \"Group\" or userName eq \"carol@x.com\""}`)
		mustStatus(t, r, http.StatusOK)
		if got := resourceIDs(t, r.object(t)); !reflect.DeepEqual(got, []string{carol, group}) {
			t.Fatalf("root search: %v, want %v", got, []string{carol, group})
		}
		for _, bad := range []string{`{"filter": 7}`, `not json`, fmt.Sprintf(`{"filter":%q}`, "userName eq")} {
			r := c.do(t, "POST", "/Users/.search", bad)
			mustStatus(t, r, http.StatusBadRequest)
		}
	})
}

func TestServiceProviderConfigTellsTheTruth(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	spc := c.get(t, "/ServiceProviderConfig")
	for _, feature := range []string{"patch", "bulk", "filter", "sort", "etag"} {
		if spc[feature].(map[string]any)["supported"] != true {
			t.Errorf("%s not advertised", feature)
		}
	}
	if spc["changePassword"].(map[string]any)["supported"] != false {
		t.Errorf("changePassword advertised but passwords are never stored")
	}
	bulk := spc["bulk"].(map[string]any)
	if bulk["maxOperations"] != float64(1000) || bulk["maxPayloadSize"] != float64(1<<20) {
		t.Errorf("bulk limits: %v", bulk)
	}
	pagination := spc["pagination"].(map[string]any)
	if pagination["cursor"] != true || pagination["index"] != true {
		t.Errorf("pagination: %v", pagination)
	}
	schemes := spc["authenticationSchemes"].([]any)
	if len(schemes) != 1 || schemes[0].(map[string]any)["type"] != "oauthbearertoken" {
		t.Errorf("authenticationSchemes: %v", schemes)
	}
}

package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBulk follows RFC 7644 §3.7: bulkId references (a group created in
// the same request as its members, listed before them), failOnErrors, and
// the advertised limits.
func TestBulk(t *testing.T) {
	forEachStore(t, testBulk)
}

func testBulk(t *testing.T, srv *testServer) {
	c := srv.client(t, testConn)
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[
	  {"method":"POST","path":"/Groups","bulkId":"team","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Tour Guides","members":[{"value":"bulkId:alice"},{"value":"bulkId:bob"}]}},
	  {"method":"POST","path":"/Users","bulkId":"alice","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@x.com"}},
	  {"method":"POST","path":"/Users","bulkId":"bob","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob@x.com"}},
	  {"method":"PATCH","path":"/Users/bulkId:bob","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}},
	  {"method":"POST","path":"/Users","bulkId":"dup","data":{"userName":"ALICE@x.com"}}
	]}`
	r := c.do(t, "POST", "/Bulk", body)
	mustStatus(t, r, http.StatusOK)
	ops := r.object(t)["Operations"].([]any)
	wantStatus := []string{"201", "201", "201", "200", "409"}
	if len(ops) != len(wantStatus) {
		t.Fatalf("got %d results: %s", len(ops), r)
	}
	for i, op := range ops {
		if got := op.(map[string]any)["status"]; got != wantStatus[i] {
			t.Fatalf("operation %d status %v, want %s\n%s", i, got, wantStatus[i], r)
		}
	}
	if resp := ops[4].(map[string]any)["response"].(map[string]any); resp["scimType"] != "uniqueness" {
		t.Fatalf("failed operation response: %v", resp)
	}
	groupLocation := ops[0].(map[string]any)["location"].(string)
	groupID := groupLocation[strings.LastIndex(groupLocation, "/")+1:]
	group := c.get(t, "/Groups/"+groupID)
	if members := group["members"].([]any); len(members) != 2 {
		t.Fatalf("group members: %v", members)
	}
	bobLocation := ops[2].(map[string]any)["location"].(string)
	bob := c.get(t, "/Users/"+bobLocation[strings.LastIndex(bobLocation, "/")+1:])
	if bob["active"] != false {
		t.Fatalf("bob: %v", bob)
	}

	t.Run("failOnErrors stops processing", func(t *testing.T) {
		r := c.do(t, "POST", "/Bulk", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[
		  {"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"alice@x.com"}},
		  {"method":"POST","path":"/Users","bulkId":"c","data":{"userName":"carol@x.com"}}]}`)
		mustStatus(t, r, http.StatusOK)
		if ops := r.object(t)["Operations"].([]any); len(ops) != 1 {
			t.Fatalf("processing went on after the first error: %s", r)
		}
		if list := c.get(t, `/Users?filter=userName%20eq%20%22carol@x.com%22`); list["totalResults"] != float64(0) {
			t.Fatalf("carol was created after failOnErrors was reached")
		}
	})

	t.Run("errors per operation", func(t *testing.T) {
		r := c.do(t, "POST", "/Bulk", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[
		  {"method":"POST","path":"/Users","data":{"userName":"nobulkid@x.com"}},
		  {"method":"POST","path":"/Widgets","bulkId":"w","data":{}},
		  {"method":"DELETE","path":"/Users/00000000-0000-4000-8000-00000000dead"},
		  {"method":"POST","path":"/Groups","bulkId":"g1","data":{"displayName":"A","members":[{"value":"bulkId:g2"}]}},
		  {"method":"POST","path":"/Groups","bulkId":"g2","data":{"displayName":"B","members":[{"value":"bulkId:g1"}]}},
		  {"method":"PUT","path":"/Users/bulkId:never","data":{"userName":"x@x.com"}}]}`)
		mustStatus(t, r, http.StatusOK)
		want := []string{"400", "400", "404", "400", "400", "400"}
		ops := r.object(t)["Operations"].([]any)
		for i, op := range ops {
			if op.(map[string]any)["status"] != want[i] {
				t.Fatalf("operation %d: %v\n%s", i, op, r)
			}
		}
	})

	t.Run("limits", func(t *testing.T) {
		var many []string
		for i := range 1001 {
			many = append(many, fmt.Sprintf(`{"method":"DELETE","path":"/Users/x%d"}`, i))
		}
		r := c.do(t, "POST", "/Bulk", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[`+strings.Join(many, ",")+`]}`)
		mustStatus(t, r, http.StatusRequestEntityTooLarge)
		big := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"big@x.com","title":"` + strings.Repeat("x", 1<<20) + `"}}]}`
		r = c.do(t, "POST", "/Bulk", big)
		mustStatus(t, r, http.StatusRequestEntityTooLarge)
		r = c.do(t, "POST", "/Bulk", `{"Operations":"nope"}`)
		mustStatus(t, r, http.StatusBadRequest)
	})
}

package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/dynamocost"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// BenchmarkDynamoDBCalls drives each SCIM operation through the HTTP
// handler on the DynamoDB store (moto) and reports the DynamoDB requests it
// makes, counted by SDK middleware: what a request is billed and most of
// its latency. The token check is excluded: tokens are looked up through a
// second, uncounted client on the same table.
//
//	make bench   # or: go test -run '^$' -bench DynamoDBCalls ./pkg/httpapi
func BenchmarkDynamoDBCalls(b *testing.B) {
	srv := dynamotest.Start(b)
	counter := &dynamostore.CallCounter{}
	plain := srv.Client(b)
	table := srv.NewTable(b, plain)
	// The request units each call would be billed, from the items' sizes
	// (moto's own ConsumedCapacity figures are constants).
	meter := dynamocost.NewCapacityMeter(plain, table)
	counted := srv.Client(b, counter.ClientOption(), meter.ClientOption())
	resources := dynamostore.New(counted, table)
	tokens := dynamostore.New(plain, table)
	conn := scim.Connection{Tenant: "bench", SSO: "okta"}
	token, err := auth.Issue(context.Background(), tokens, conn, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	if err != nil {
		b.Fatal(err)
	}
	handler := httpapi.New(httpapi.Config{
		Service: scim.NewService(resources),
		Tokens:  tokens,
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	base := httpapi.BasePath + "/" + conn.Tenant + "/" + conn.SSO
	do := func(b *testing.B, method, path, body string, want int) string {
		b.Helper()
		req := httptest.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/scim+json")
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("%s %s: %d, want %d: %s", method, path, rec.Code, want, rec.Body)
		}
		return rec.Body.String()
	}
	idOf := func(body string) string {
		_, rest, _ := strings.Cut(body, `"id":"`)
		id, _, _ := strings.Cut(rest, `"`)
		return id
	}
	seq := 0
	newUser := func(b *testing.B) string {
		seq++
		return idOf(do(b, "POST", "/Users", fmt.Sprintf(`{"userName":"user%06d@example.com","externalId":"00u%06d","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"user%06d@example.com","type":"work","primary":true}]}`, seq, seq, seq), http.StatusCreated))
	}
	var users []string
	for range 120 {
		users = append(users, newUser(b))
	}
	group := idOf(do(b, "POST", "/Groups", `{"displayName":"Everyone"}`, http.StatusCreated))
	// Every user is in one group, so a list page has groups to show.
	var add []string
	for _, id := range users[:100] {
		add = append(add, fmt.Sprintf(`{"value":%q}`, id))
	}
	do(b, "PATCH", "/Groups/"+group, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[`+strings.Join(add, ",")+`]}]}`, http.StatusNoContent)
	spare := func(n int) []string {
		var ids []string
		for range n {
			ids = append(ids, newUser(b))
		}
		return ids
	}
	members := func(ids []string) string {
		var v []string
		for _, id := range ids {
			v = append(v, fmt.Sprintf(`{"value":%q}`, id))
		}
		return "[" + strings.Join(v, ",") + "]"
	}
	patch := func(ops string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + ops + `}`
	}
	u := users[0]
	active := true
	cases := []struct {
		name  string
		setup func(b *testing.B) // untimed, uncounted, before each operation
		op    func(b *testing.B)
	}{
		{"GetUser", nil, func(b *testing.B) { do(b, "GET", "/Users/"+u, "", 200) }},
		{"FilterUserName", nil, func(b *testing.B) {
			do(b, "GET", `/Users?filter=userName%20eq%20%22user000002@example.com%22`, "", 200)
		}},
		{"FilterExternalID", nil, func(b *testing.B) { do(b, "GET", `/Users?filter=externalId%20eq%20%2200u000003%22`, "", 200) }},
		{"FilterGroupDisplayName", nil, func(b *testing.B) {
			do(b, "GET", `/Groups?filter=displayName%20eq%20%22Everyone%22&excludedAttributes=members`, "", 200)
		}},
		{"CreateUser", nil, func(b *testing.B) { newUser(b) }},
		{"PatchUserActive", nil, func(b *testing.B) {
			// Alternate, so that every PATCH changes the user (an unchanged user is not written).
			active = !active
			do(b, "PATCH", "/Users/"+u, patch(fmt.Sprintf(`[{"op":"replace","value":{"active":%t}}]`, active)), 200)
		}},
		{"PutUser", nil, func(b *testing.B) {
			seq++
			do(b, "PUT", "/Users/"+u, fmt.Sprintf(`{"userName":"user000001@example.com","externalId":"00u000001","title":"t%d"}`, seq), 200)
		}},
		{"ListUsersPage100", nil, func(b *testing.B) { do(b, "GET", "/Users?startIndex=1&count=100", "", 200) }},
		{"GetGroupWithoutMembers", nil, func(b *testing.B) { do(b, "GET", "/Groups/"+group+"?excludedAttributes=members", "", 200) }},
		{"GetGroup100Members", nil, func(b *testing.B) { do(b, "GET", "/Groups/"+group, "", 200) }},
		{"AddMember1", nil, func(b *testing.B) {
			do(b, "PATCH", "/Groups/"+group, patch(`[{"op":"add","path":"members","value":`+members(users[100:101])+`}]`), 204)
		}},
		{"RemoveMember1", nil, func(b *testing.B) {
			do(b, "PATCH", "/Groups/"+group, patch(`[{"op":"remove","path":"members[value eq \"`+users[100]+`\"]"}]`), 204)
		}},
		{"AddMembers20", nil, func(b *testing.B) {
			do(b, "PATCH", "/Groups/"+group, patch(`[{"op":"add","path":"members","value":`+members(users[100:120])+`}]`), 204)
		}},
		{"RemoveMembers20", nil, func(b *testing.B) {
			var ops []string
			for _, id := range users[100:120] {
				ops = append(ops, `{"op":"remove","path":"members[value eq \"`+id+`\"]"}`)
			}
			do(b, "PATCH", "/Groups/"+group, patch("["+strings.Join(ops, ",")+"]"), 204)
		}},
		{"AddMembers100", nil, func(b *testing.B) {
			do(b, "PATCH", "/Groups/"+group, patch(`[{"op":"add","path":"members","value":`+members(users[:100])+`}]`), 204)
		}},
		{"DeleteUser", nil, func(b *testing.B) {
			b.StopTimer()
			id := spare(1)[0]
			counter.Reset()
			meter.Reset()
			b.StartTimer()
			do(b, "DELETE", "/Users/"+id, "", 204)
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			counter.Reset()
			meter.Reset()
			calls := map[string]int{}
			var rru, wru float64
			n := 0
			for b.Loop() {
				tc.op(b)
				for k, v := range counter.Snapshot() {
					calls[k] += v
				}
				counter.Reset()
				r, w := meter.Units()
				rru, wru = rru+r, wru+w
				meter.Reset()
				n++
			}
			total := 0
			var parts []string
			for k, v := range calls {
				total += v
				parts = append(parts, fmt.Sprintf("%s=%.2f", k, float64(v)/float64(n)))
			}
			sort.Strings(parts)
			b.ReportMetric(float64(total)/float64(n), "ddbcalls/op")
			b.ReportMetric(rru/float64(n), "rru/op")
			b.ReportMetric(wru/float64(n), "wru/op")
			b.Logf("%s: %s", tc.name, strings.Join(parts, " "))
		})
	}
}

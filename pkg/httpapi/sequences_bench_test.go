package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
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

// BenchmarkProvisioningSequences drives whole IdP provisioning sequences
// through the HTTP handler on the DynamoDB store (moto) and reports, per
// sequence, the HTTP requests it sends (requests/op), the DynamoDB calls
// (ddbcalls/op) and the request units they would be billed (rru/op, wru/op;
// see dynamocost.CapacityMeter). The token check of each request is not
// included (one more GetItem, 1 RRU, per request).
//
// The sequences are the requests Okta's and Microsoft's SCIM guides show:
// assigning one user is a lookup by userName that finds nothing, then a
// POST; pushing a group is a lookup by displayName, a POST without members
// and one PATCH adding the (already provisioned) 100 members as a value
// list. OktaUserLifecycle and OktaGroupPatch50 are the steps of the Okta
// replay that the local throughput test sends (per user: lookup, create,
// get, replace, deactivate; per 50 users a group created, CreateGroup, and
// given 50 members in one PATCH).
//
//	go test -run '^$' -bench ProvisioningSequences -benchtime 1x ./pkg/httpapi
func BenchmarkProvisioningSequences(b *testing.B) {
	srv := dynamotest.Start(b)
	counter := &dynamostore.CallCounter{}
	plain := srv.Client(b)
	table := srv.NewTable(b, plain)
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
	requests := 0
	do := func(b *testing.B, method, path, body string, want int) string {
		b.Helper()
		requests++
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
	filter := func(expr string) string { return url.QueryEscape(expr) }
	seq := 0
	userBody := func(n int, active bool) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%06d@example.com","externalId":"00u%06d","name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"user%06d@example.com","type":"work","primary":true}],"displayName":"Ada Lovelace","active":%t}`, n, n, n, active)
	}
	assignUser := func(b *testing.B, lookup string) string {
		seq++
		do(b, "GET", "/Users?filter="+filter(fmt.Sprintf(`userName eq "user%06d@example.com"`, seq))+lookup, "", 200)
		return idOf(do(b, "POST", "/Users", userBody(seq, true), 201))
	}
	var members []string
	for range 100 {
		members = append(members, assignUser(b, ""))
	}
	memberValues := func(ids []string) string {
		var v []string
		for _, id := range ids {
			v = append(v, fmt.Sprintf(`{"value":%q}`, id))
		}
		return "[" + strings.Join(v, ",") + "]"
	}
	addMembers := func(ids []string, op string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"` + op + `","path":"members","value":` + memberValues(ids) + `}]}`
	}
	pushGroup := func(b *testing.B, lookupQuery, op string, ids []string) string {
		seq++
		name := fmt.Sprintf("Team %06d", seq)
		do(b, "GET", "/Groups?"+lookupQuery+"filter="+filter(fmt.Sprintf(`displayName eq "%s"`, name)), "", 200)
		id := idOf(do(b, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":%q,"members":[]}`, name), 201))
		do(b, "PATCH", "/Groups/"+id, addMembers(ids, op), 204)
		return id
	}
	cases := []struct {
		name string
		run  func(b *testing.B)
	}{
		{"OktaAssignUser", func(b *testing.B) { assignUser(b, "&startIndex=1&count=100") }},
		{"EntraAssignUser", func(b *testing.B) { assignUser(b, "") }},
		{"OktaPushGroup100", func(b *testing.B) { pushGroup(b, "", "add", members) }},
		{"EntraPushGroup100", func(b *testing.B) { pushGroup(b, "excludedAttributes=members&", "Add", members) }},
		{"OktaUserLifecycle", func(b *testing.B) {
			id := assignUser(b, "&startIndex=1&count=100")
			do(b, "GET", "/Users/"+id, "", 200)
			// Okta sends the whole profile, here with a changed family name.
			do(b, "PUT", "/Users/"+id, strings.Replace(userBody(seq, true), "Lovelace", "King", 1), 200)
			do(b, "PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`, 200)
		}},
		{"CreateGroup", func(b *testing.B) {
			seq++
			do(b, "POST", "/Groups", fmt.Sprintf(`{"displayName":"Created %06d","members":[]}`, seq), 201)
		}},
		{"OktaGroupPatch50", nil},
	}
	group50 := ""
	cases[len(cases)-1].run = func(b *testing.B) {
		if group50 == "" {
			b.StopTimer()
			group50 = idOf(do(b, "POST", "/Groups", `{"displayName":"Fifty"}`, 201))
			counter.Reset()
			meter.Reset()
			requests = 0
			b.StartTimer()
		}
		// Re-adding members costs what adding them the first time does.
		do(b, "PATCH", "/Groups/"+group50, addMembers(members[:50], "add"), 204)
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var calls, reqs int
			var rru, wru float64
			n := 0
			for b.Loop() {
				counter.Reset()
				meter.Reset()
				requests = 0
				tc.run(b)
				calls += counter.Total()
				r, w := meter.Units()
				rru, wru = rru+r, wru+w
				reqs += requests
				n++
			}
			b.ReportMetric(float64(reqs)/float64(n), "requests/op")
			b.ReportMetric(float64(calls)/float64(n), "ddbcalls/op")
			b.ReportMetric(rru/float64(n), "rru/op")
			b.ReportMetric(wru/float64(n), "wru/op")
		})
	}
}

package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// BenchmarkWorstCase runs, through the real handler on the embedded store,
// the costliest request each limit of pkg/scim/limits.go admits (and, for
// counts, the same request one beyond the limit, which must be refused
// before any work). ns/op is the figure the limits are chosen by: every
// request within them must cost well under a second of CPU.
//
//	go test -run '^$' -bench WorstCase -benchtime 3x ./pkg/httpapi
func BenchmarkWorstCase(b *testing.B) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	conn := scim.Connection{Tenant: "bench", SSO: "okta"}
	token, err := auth.Issue(context.Background(), st, conn, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	if err != nil {
		b.Fatal(err)
	}
	handler := httpapi.New(httpapi.Config{Service: scim.NewService(st), Tokens: st, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	base := httpapi.BasePath + "/" + conn.Tenant + "/" + conn.SSO
	do := func(b *testing.B, method, path, body string, want int) string {
		b.Helper()
		req := httptest.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("%s %s: %d, want %d: %.300s", method, path, rec.Code, want, rec.Body)
		}
		return rec.Body.String()
	}
	idOf := func(body string) string {
		_, rest, _ := strings.Cut(body, `"id":"`)
		id, _, _ := strings.Cut(rest, `"`)
		return id
	}
	seq := 0
	userBody := func(extra string) string {
		seq++
		return fmt.Sprintf(`{"schemas":[%q],"userName":"user%06d@example.com"%s}`, scim.UserSchema, seq, extra)
	}
	emailList := func(n int, pad int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"value":"e%03d@example.com%s","type":"work"}`, i, strings.Repeat("x", pad))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	patch := func(ops []string) string {
		return fmt.Sprintf(`{"schemas":[%q],"Operations":[%s]}`, scim.PatchOpSchema, strings.Join(ops, ","))
	}
	orTerms := func(attr string, n int, match string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`%s eq "nomatch%03d@example.com"`, attr, i)
		}
		parts[n-1] = fmt.Sprintf(`%s eq %q`, attr, match)
		return strings.Join(parts, " or ")
	}

	// A user at maxValuesPerAttribute emails, near maxResourceBytes.
	fullUser := idOf(do(b, "POST", "/Users", userBody(`,"emails":`+emailList(scim.MaxValuesPerAttribute, 400)), http.StatusCreated))
	emptyGroup := idOf(do(b, "POST", "/Groups", fmt.Sprintf(`{"schemas":[%q],"displayName":"Nobody"}`, scim.GroupSchema), http.StatusCreated))

	b.Run("PATCH maxPatchPathsBytes of maxPatchPathBytes filtered replaces, then path-less replaces up to maxPatchOperations", func(b *testing.B) {
		// Path-less operations read each key as a path too: leave room for
		// the title keys of the operations that follow the filtered ones.
		filtered := (scim.MaxPatchPathsBytes - len("title")*scim.MaxPatchOperations) / scim.MaxPatchPathBytes
		var ops []string
		for i := 0; i < filtered; i++ {
			// The longest path that matches a value: the filter parser reads
			// at most two comparisons inside a PATCH path's [ ].
			last := fmt.Sprintf("e%03d@example.com%s", i%scim.MaxValuesPerAttribute, strings.Repeat("x", 400))
			pad := scim.MaxPatchPathBytes - len(`emails[value eq "" or value eq ""]`) - len(last)
			path := fmt.Sprintf(`emails[value eq "%s" or value eq %q]`, strings.Repeat("n", pad), last)
			ops = append(ops, fmt.Sprintf(`{"op":"replace","path":%q,"value":{"type":"t%d"}}`, path, i))
		}
		for i := len(ops); i < scim.MaxPatchOperations; i++ {
			ops = append(ops, fmt.Sprintf(`{"op":"replace","value":{"title":"t%d"}}`, i))
		}
		body := patch(ops)
		b.ReportMetric(float64(len(body)), "body-bytes")
		for b.Loop() {
			do(b, "PATCH", "/Users/"+fullUser, body, http.StatusOK)
		}
	})
	b.Run("PATCH maxPatchOperations removes of one member each", func(b *testing.B) {
		ops := make([]string, scim.MaxPatchOperations)
		for i := range ops {
			ops[i] = fmt.Sprintf(`{"op":"remove","path":"members[value eq \"00000000-0000-4000-8000-%012d\"]"}`, i)
		}
		body := patch(ops)
		for b.Loop() {
			do(b, "PATCH", "/Groups/"+emptyGroup, body, http.StatusNoContent)
		}
	})
	b.Run("PATCH maxPatchOperations adds of a primary email (maxPatchValues), refused after", func(b *testing.B) {
		id := idOf(do(b, "POST", "/Users", userBody(""), http.StatusCreated))
		ops := make([]string, scim.MaxPatchOperations)
		for i := range ops {
			ops[i] = fmt.Sprintf(`{"op":"add","path":"emails","value":{"value":"p%d@example.com","primary":true}}`, i)
		}
		body := patch(ops)
		for b.Loop() {
			do(b, "PATCH", "/Users/"+id, body, http.StatusBadRequest) // beyond maxValuesPerAttribute once applied
		}
	})
	b.Run("PATCH 30000 operations, refused", func(b *testing.B) {
		ops := make([]string, 30000)
		for i := range ops {
			ops[i] = `{"op":"replace","path":"emails[value eq \"e001@example.com\"].type","value":"home"}`
		}
		body := patch(ops)
		for b.Loop() {
			do(b, "PATCH", "/Users/"+fullUser, body, http.StatusBadRequest)
		}
	})
	b.Run("POST a maxRequestBodyBytes user, refused", func(b *testing.B) {
		body := userBody(`,"title":"` + strings.Repeat("t", scim.MaxRequestBodyBytes-200) + `"`)
		for b.Loop() {
			do(b, "POST", "/Users", body, http.StatusBadRequest)
		}
	})
	b.Run("POST a user near maxResourceBytes", func(b *testing.B) {
		for b.Loop() {
			do(b, "POST", "/Users", userBody(`,"emails":`+emailList(scim.MaxValuesPerAttribute, 500)), http.StatusCreated)
		}
	})
	b.Run("POST a 4 MiB body of duplicate-free keys, refused at maxResourceBytes", func(b *testing.B) {
		var addrs []string
		for i := 0; len(strings.Join(addrs, ",")) < scim.MaxRequestBodyBytes-100_000; i++ {
			addrs = append(addrs, fmt.Sprintf(`{"formatted":"%s","streetAddress":"%d","locality":"l","region":"r","postalCode":"p","country":"c"}`, strings.Repeat("a", 400), i))
		}
		addrs = addrs[:scim.MaxValuesPerAttribute]
		body := userBody(`,"addresses":[` + strings.Join(addrs, ",") + `],"emails":` + emailList(scim.MaxValuesPerAttribute, 8000))
		b.ReportMetric(float64(len(body)), "body-bytes")
		for b.Loop() {
			do(b, "POST", "/Users", body, http.StatusRequestEntityTooLarge)
		}
	})

	// Bulk: a chain of bulkId references in reverse order (each operation
	// refers to the next one's bulkId), the worst order for resolution
	// (RFC 7644 §3.7.2): its cost must grow linearly with the chain.
	chains := 0
	for _, n := range []int{250, 500, scim.MaxBulkOperations} {
		b.Run(fmt.Sprintf("POST /Bulk of %d users, each the next one's manager by bulkId", n), func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				chains++
				ops := make([]string, n)
				for i := range ops {
					schemas, manager := fmt.Sprintf("%q", scim.UserSchema), ""
					if i+1 < n {
						schemas += fmt.Sprintf(",%q", scim.EnterpriseUserSchema)
						manager = fmt.Sprintf(`,%q:{"manager":{"value":"bulkId:c%d"}}`, scim.EnterpriseUserSchema, i+1)
					}
					ops[i] = fmt.Sprintf(`{"method":"POST","path":"/Users","bulkId":"c%d","data":{"schemas":[%s],"userName":"chain%d.link%d@example.com"%s}}`, i, schemas, chains, i, manager)
				}
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[%s]}`, strings.Join(ops, ","))
				out := do(b, "POST", "/Bulk", body, http.StatusOK)
				if got := strings.Count(out, `"status":"201"`); got != n {
					b.Fatalf("%d of %d operations created: %.300s", got, n, out[len(out)-400:])
				}
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}

	// Filters: the costliest filter on a non-key attribute, per resource read.
	titled := 200
	for range titled {
		do(b, "POST", "/Users", userBody(`,"title":"`+strings.Repeat("T", scim.MaxStringBytes)+`","emails":`+emailList(20, 0)), http.StatusCreated)
	}
	b.Run(fmt.Sprintf("GET filter of maxFilterTerms co on maxStringBytes titles, %d users read", titled+3), func(b *testing.B) {
		parts := make([]string, scim.MaxFilterTerms)
		for i := range parts {
			parts[i] = fmt.Sprintf(`title co "T%sz%d"`, strings.Repeat("T", 40), i)
		}
		q := "/Users?count=1&filter=" + url.QueryEscape(strings.Join(parts, " or "))
		for b.Loop() {
			do(b, "GET", q, "", http.StatusOK)
		}
	})
	b.Run(fmt.Sprintf("GET filter of maxFilterTerms userName eq, %d users read", titled+3), func(b *testing.B) {
		q := "/Users?count=1&filter=" + url.QueryEscape(orTerms("userName", scim.MaxFilterTerms, "user000001@example.com"))
		for b.Loop() {
			do(b, "GET", q, "", http.StatusOK)
		}
	})
	b.Run("GET 5000 title eq terms, refused", func(b *testing.B) {
		q := "/Users?filter=" + url.QueryEscape(orTerms("title", 5000, "x"))
		for b.Loop() {
			do(b, "GET", q, "", http.StatusBadRequest)
		}
	})

	// Members: a group PATCH naming maxMembersPerRequest members.
	members := make([]string, scim.MaxMembersPerRequest)
	for i := range members {
		members[i] = fmt.Sprintf(`{"value":%q}`, idOf(do(b, "POST", "/Users", userBody(""), http.StatusCreated)))
	}
	group := idOf(do(b, "POST", "/Groups", fmt.Sprintf(`{"schemas":[%q],"displayName":"Everyone"}`, scim.GroupSchema), http.StatusCreated))
	b.Run("PATCH a group: add then remove maxMembersPerRequest members", func(b *testing.B) {
		add := patch([]string{`{"op":"add","path":"members","value":[` + strings.Join(members, ",") + `]}`})
		remove := patch([]string{`{"op":"remove","path":"members","value":[` + strings.Join(members, ",") + `]}`})
		for b.Loop() {
			do(b, "PATCH", "/Groups/"+group, add, http.StatusNoContent)
			do(b, "PATCH", "/Groups/"+group, remove, http.StatusNoContent)
		}
	})
}

// cpuTime is the process's user and system CPU time so far: the cost a
// loaded machine's wall clock hides.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

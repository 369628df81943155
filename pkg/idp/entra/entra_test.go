package entra_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/entra"
	"github.com/scimgate/scimgate/pkg/idp/entra/graphtest"
)

// fakeClock is the injected clock and sleeper: sleeping advances the clock
// and is recorded, so no test waits.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func newReader(t *testing.T, srv *graphtest.Server, clock *fakeClock, edit func(*entra.Config)) *entra.Reader {
	t.Helper()
	cfg := srv.Config()
	cfg.Now = clock.Now
	cfg.Sleep = clock.Sleep
	srv.Now = clock.Now
	if edit != nil {
		edit(&cfg)
	}
	r, err := entra.New(cfg)
	if err != nil {
		t.Fatalf("entra.New: %v", err)
	}
	return r
}

func uid(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
func gid(i int) string { return fmt.Sprintf("11111111-0000-4000-8000-%012d", i) }

func user(i int, enabled bool) graphtest.User {
	return graphtest.User{
		ID: uid(i), UserPrincipalName: fmt.Sprintf("user%d@contoso.example", i),
		MailNickname: fmt.Sprintf("user%d", i), DisplayName: fmt.Sprintf("User %d", i),
		AccountEnabled: enabled, Attributes: map[string]string{"employeeId": fmt.Sprintf("E%05d", i)},
	}
}

func userIDs(s idp.Snapshot) []string {
	var ids []string
	for _, u := range s.Users {
		ids = append(ids, u.IdPID)
	}
	return ids
}

func TestReadPagesAcrossSeveralPages(t *testing.T) {
	var users []graphtest.User
	var assigned []graphtest.Assignment
	for i := range 250 {
		users = append(users, user(i, true))
		assigned = append(assigned, graphtest.Assignment{PrincipalID: uid(i), PrincipalType: "User"})
	}
	var members []string
	for i := 250; i < 480; i++ {
		users = append(users, user(i, true))
		members = append(members, uid(i))
	}
	groups := []graphtest.Group{{ID: gid(1), DisplayName: "Engineering", MailNickname: "eng", MemberIDs: members}}
	assigned = append(assigned, graphtest.Assignment{PrincipalID: gid(1), PrincipalType: "Group"})
	srv := graphtest.New(t, users, groups, assigned)
	srv.SetPageSize(100)
	clock := newClock()

	snap, err := newReader(t, srv, clock, nil).Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(snap.Users) != 480 {
		t.Fatalf("users = %d, want 480", len(snap.Users))
	}
	for _, u := range snap.Users {
		var i int
		fmt.Sscanf(u.IdPID[len(u.IdPID)-12:], "%d", &i)
		want := idp.User{IdPID: uid(i), ExternalID: fmt.Sprintf("user%d", i), UserName: fmt.Sprintf("user%d@contoso.example", i), Assigned: true, Status: "assigned"}
		if u != want {
			t.Fatalf("user = %+v, want %+v", u, want)
		}
	}
	if len(snap.Groups) != 1 || len(snap.Groups[0].MemberIDs) != 230 || snap.Groups[0].ExternalID != gid(1) || snap.Groups[0].DisplayName != "Engineering" || !snap.Groups[0].Pushed {
		t.Fatalf("groups = %+v", snap.Groups)
	}
	// 251 assignments: 3 pages; 230 members: 3 pages; 250 direct users in
	// filters of 15: 17 requests (each one page); 1 token.
	if got := srv.RequestsFor(graphtest.OpAssignments); got != 3 {
		t.Errorf("assignment pages = %d, want 3", got)
	}
	if got := srv.RequestsFor(graphtest.OpMembers); got != 3 {
		t.Errorf("member pages = %d, want 3", got)
	}
	if got := srv.RequestsFor(graphtest.OpUsers); got != 17 {
		t.Errorf("user requests = %d, want 17", got)
	}
	if snap.Requests != srv.Requests() || snap.Requests != 1+3+3+17 {
		t.Errorf("Snapshot.Requests = %d, double counted %d, want 24", snap.Requests, srv.Requests())
	}
}

func smallDirectory(t *testing.T) *graphtest.Server {
	t.Helper()
	var users []graphtest.User
	var assigned []graphtest.Assignment
	for i := range 30 {
		users = append(users, user(i, true))
		if i < 20 {
			assigned = append(assigned, graphtest.Assignment{PrincipalID: uid(i), PrincipalType: "User"})
		}
	}
	groups := []graphtest.Group{{ID: gid(1), DisplayName: "Sales", MailNickname: "sales", MemberIDs: []string{uid(20), uid(21), uid(22), uid(23), uid(24), uid(25), uid(26)}}}
	assigned = append(assigned, graphtest.Assignment{PrincipalID: gid(1), PrincipalType: "Group"})
	srv := graphtest.New(t, users, groups, assigned)
	srv.SetPageSize(5)
	return srv
}

func TestReadHonours429RetryAfter(t *testing.T) {
	for _, op := range []graphtest.Op{graphtest.OpToken, graphtest.OpAssignments, graphtest.OpMembers, graphtest.OpUsers} {
		t.Run(string(op), func(t *testing.T) {
			srv := smallDirectory(t)
			nth := 2
			if op == graphtest.OpToken {
				nth = 1
			}
			srv.ThrottleAt(op, nth, 7*time.Second)
			clock := newClock()
			snap, err := newReader(t, srv, clock, nil).Read(context.Background())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(clock.sleeps, []time.Duration{7 * time.Second}) {
				t.Errorf("sleeps = %v, want [7s]", clock.sleeps)
			}
			if len(snap.Users) != 27 {
				t.Errorf("users = %d, want 27", len(snap.Users))
			}
			if snap.Requests != srv.Requests() {
				t.Errorf("Snapshot.Requests = %d, double counted %d", snap.Requests, srv.Requests())
			}
		})
	}
}

func TestReadGivesUpAfterRepeated429(t *testing.T) {
	srv := smallDirectory(t)
	for n := 2; n <= 3; n++ {
		srv.ThrottleAt(graphtest.OpAssignments, n, time.Second)
	}
	clock := newClock()
	_, err := newReader(t, srv, clock, func(c *entra.Config) { c.MaxRetries = 1 }).Read(context.Background())
	var ie *idp.Error
	if !errors.As(err, &ie) || ie.Status != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want an idp.Error with HTTP 429", err)
	}
}

func TestReadFailuresGiveErrorAndNoSnapshot(t *testing.T) {
	tests := []struct {
		name       string
		op         graphtest.Op
		nth        int
		status     int
		edit       func(*entra.Config)
		wantStatus int
		wantFix    string
	}{
		{name: "401 mid-paging", op: graphtest.OpAssignments, nth: 2, status: 401, wantStatus: 401, wantFix: "tenant id"},
		{name: "403 assignments", op: graphtest.OpAssignments, nth: 1, status: 403, wantStatus: 403, wantFix: "Application.Read.All"},
		{name: "403 mid-paging", op: graphtest.OpAssignments, nth: 3, status: 403, wantStatus: 403, wantFix: "Application.Read.All"},
		{name: "500 mid-paging", op: graphtest.OpAssignments, nth: 2, status: 500, wantStatus: 500, wantFix: "run again later"},
		{name: "403 members", op: graphtest.OpMembers, nth: 1, status: 403, wantStatus: 403, wantFix: "GroupMember.Read.All"},
		{name: "500 members mid-paging", op: graphtest.OpMembers, nth: 2, status: 500, wantStatus: 500, wantFix: "run again later"},
		{name: "403 users", op: graphtest.OpUsers, nth: 1, status: 403, wantStatus: 403, wantFix: "User.Read.All"},
		{name: "503 users", op: graphtest.OpUsers, nth: 2, status: 503, wantStatus: 503, wantFix: "run again later"},
		{name: "404 wrong service principal", edit: func(c *entra.Config) { c.ServicePrincipalID = graphtest.ClientID }, wantStatus: 404, wantFix: "enterprise app's Object ID"},
		{name: "wrong secret", edit: func(c *entra.Config) { c.ClientSecret = []byte("wrong~secret") }, wantStatus: 401, wantFix: "Value, not its Secret ID"},
		{name: "wrong tenant", edit: func(c *entra.Config) { c.TenantID = "contoso.onmicrosoft.example" }, wantStatus: 400, wantFix: "does not exist in this cloud"},
		{name: "wrong client id", edit: func(c *entra.Config) { c.ClientID = "0000" }, wantStatus: 400, wantFix: "check the client id"},
		{name: "unknown join attribute", edit: func(c *entra.Config) { c.UserExternalIDAttribute = "favouriteColour" }, wantStatus: 400, wantFix: "join attribute"},
		{name: "token endpoint 500", op: graphtest.OpToken, nth: 1, status: 500, wantStatus: 500, wantFix: "no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smallDirectory(t)
			if tt.op != "" {
				srv.FailAt(tt.op, tt.nth, tt.status)
			}
			snap, err := newReader(t, srv, newClock(), tt.edit).Read(context.Background())
			var ie *idp.Error
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *idp.Error", err)
			}
			if ie.Kind != idp.Entra || ie.Status != tt.wantStatus || !strings.Contains(ie.Fix, tt.wantFix) {
				t.Errorf("error = %q (status %d), want status %d and a fix naming %q", err, ie.Status, tt.wantStatus, tt.wantFix)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if snap.Users != nil || snap.Groups != nil || snap.Requests != 0 {
				t.Errorf("a failed read returned a snapshot: %+v", snap)
			}
			if strings.Contains(err.Error(), graphtest.ClientSecret) || strings.Contains(fmt.Sprintf("%+v", ie.Err), graphtest.ClientSecret) {
				t.Errorf("error carries the client secret: %v", err)
			}
		})
	}
}

func TestJoinAttributesConfigurable(t *testing.T) {
	tests := []struct {
		name              string
		userAttr, grpAttr string
		wantUserExt       string
		wantGroupExt      string
		wantGroupReads    int
	}{
		{name: "defaults", wantUserExt: "user3", wantGroupExt: gid(1)},
		{name: "objectId for users", userAttr: "objectId", wantUserExt: uid(3), wantGroupExt: gid(1)},
		{name: "employeeId and group mailNickname", userAttr: "employeeId", grpAttr: "mailNickname", wantUserExt: "E00003", wantGroupExt: "sales", wantGroupReads: 1},
		{name: "userPrincipalName and group displayName", userAttr: "userPrincipalName", grpAttr: "displayName", wantUserExt: "user3@contoso.example", wantGroupExt: "Sales", wantGroupReads: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smallDirectory(t)
			r := newReader(t, srv, newClock(), func(c *entra.Config) {
				c.UserExternalIDAttribute = tt.userAttr
				c.GroupExternalIDAttribute = tt.grpAttr
			})
			snap, err := r.Read(context.Background())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			var got string
			for _, u := range snap.Users {
				if u.IdPID == uid(3) {
					got = u.ExternalID
				}
			}
			if got != tt.wantUserExt {
				t.Errorf("user externalId = %q, want %q", got, tt.wantUserExt)
			}
			if snap.Groups[0].ExternalID != tt.wantGroupExt {
				t.Errorf("group externalId = %q, want %q", snap.Groups[0].ExternalID, tt.wantGroupExt)
			}
			if n := srv.RequestsFor(graphtest.OpGroups); n != tt.wantGroupReads {
				t.Errorf("group reads = %d, want %d", n, tt.wantGroupReads)
			}
		})
	}
}

func TestGroupAssignedAndDisabledUsers(t *testing.T) {
	users := []graphtest.User{user(1, true), user(2, false), user(3, true), user(4, false), user(5, true), user(6, true), user(7, true)}
	groups := []graphtest.Group{
		// 5 is both direct and through a group; 7 sits only in a nested
		// group, which Entra's provisioning does not follow.
		{ID: gid(1), DisplayName: "A", MemberIDs: []string{uid(3), uid(4), uid(5), gid(2)}},
		{ID: gid(2), DisplayName: "Nested", MemberIDs: []string{uid(7)}},
		// 6 is in a group that is not assigned.
		{ID: gid(3), DisplayName: "Unassigned", MemberIDs: []string{uid(6)}},
	}
	assigned := []graphtest.Assignment{
		{PrincipalID: uid(1), PrincipalType: "User"},
		{PrincipalID: uid(2), PrincipalType: "User"},
		{PrincipalID: uid(5), PrincipalType: "User"},
		{PrincipalID: uid(5), PrincipalType: "User"}, // a second app role
		{PrincipalID: gid(1), PrincipalType: "Group"},
		{PrincipalID: "22222222-0000-4000-8000-000000000001", PrincipalType: "ServicePrincipal"},
	}
	srv := graphtest.New(t, users, groups, assigned)
	snap, err := newReader(t, srv, newClock(), nil).Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	got := map[string]bool{}
	for _, u := range snap.Users {
		got[u.IdPID] = u.Assigned
	}
	want := map[string]bool{uid(1): true, uid(2): false, uid(3): true, uid(4): false, uid(5): true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("assigned = %v, want %v", got, want)
	}
	if len(snap.Groups) != 1 {
		t.Fatalf("groups = %+v, want only the assigned group", snap.Groups)
	}
	members := append([]string(nil), snap.Groups[0].MemberIDs...)
	sort.Strings(members)
	if !reflect.DeepEqual(members, []string{uid(3), uid(4), uid(5)}) {
		t.Errorf("members = %v, want direct user members only", members)
	}
	for _, u := range snap.Users {
		if !u.Assigned && u.Status != "disabled" {
			t.Errorf("disabled user %s has status %q", u.IdPID, u.Status)
		}
	}
}

// TestTenThousandUsersWithinBudget reads 10,000 users at Graph's maximum page
// size; the budget is 1 token + ceil(assignments/999) +
// Σ ceil(members/999) + ceil(direct users/15).
func TestTenThousandUsersWithinBudget(t *testing.T) {
	tests := []struct {
		name       string
		direct     int
		groups     int
		perGroup   int
		wantBudget int
	}{
		// 8,000 through 5 groups, 2,000 direct: 1 + 3 + 5*2 + 134.
		{name: "mostly groups", direct: 2000, groups: 5, perGroup: 1600, wantBudget: 148},
		// all 10,000 assigned directly: 1 + 11 + 667.
		{name: "all direct", direct: 10000, wantBudget: 679},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var users []graphtest.User
			var assigned []graphtest.Assignment
			n := 0
			for range tt.direct {
				users = append(users, user(n, true))
				assigned = append(assigned, graphtest.Assignment{PrincipalID: uid(n), PrincipalType: "User"})
				n++
			}
			var groups []graphtest.Group
			for g := range tt.groups {
				grp := graphtest.Group{ID: gid(g), DisplayName: fmt.Sprint("G", g)}
				for range tt.perGroup {
					users = append(users, user(n, true))
					grp.MemberIDs = append(grp.MemberIDs, uid(n))
					n++
				}
				groups = append(groups, grp)
				assigned = append(assigned, graphtest.Assignment{PrincipalID: gid(g), PrincipalType: "Group"})
			}
			srv := graphtest.New(t, users, groups, assigned)
			srv.SetPageSize(999)
			snap, err := newReader(t, srv, newClock(), nil).Read(context.Background())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(snap.Users) != 10000 {
				t.Fatalf("users = %d, want 10000", len(snap.Users))
			}
			if snap.Requests > tt.wantBudget || snap.Requests != srv.Requests() {
				t.Errorf("requests = %d (double: %d), budget %d", snap.Requests, srv.Requests(), tt.wantBudget)
			}
			t.Logf("10k users, %s: %d requests", tt.name, snap.Requests)
		})
	}
}

func TestTokenCachedUntilShortlyBeforeExpiry(t *testing.T) {
	srv := smallDirectory(t)
	clock := newClock()
	r := newReader(t, srv, clock, nil)
	read := func() {
		t.Helper()
		if _, err := r.Read(context.Background()); err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
	read()
	clock.now = clock.now.Add(50 * time.Minute)
	read()
	if n := srv.RequestsFor(graphtest.OpToken); n != 1 {
		t.Errorf("token requests after 50 min = %d, want 1 (cached)", n)
	}
	clock.now = clock.now.Add(6 * time.Minute) // 56 min: within 5 min of the 3599 s expiry
	read()
	if n := srv.RequestsFor(graphtest.OpToken); n != 2 {
		t.Errorf("token requests after 56 min = %d, want 2 (renewed)", n)
	}
}

func testCertificate(t *testing.T) *entra.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scimgate reconcile"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &entra.Certificate{Cert: cert, Key: key}
}

func TestCertificateClientAssertion(t *testing.T) {
	good := testCertificate(t)
	other := testCertificate(t)
	tests := []struct {
		name    string
		cert    *entra.Certificate
		wantErr bool
	}{
		{name: "uploaded certificate", cert: good},
		{name: "another certificate", cert: other, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smallDirectory(t)
			srv.TrustCertificate(good.Cert)
			_, err := newReader(t, srv, newClock(), func(c *entra.Config) {
				c.ClientSecret = nil
				c.Certificate = tt.cert
			}).Read(context.Background())
			if tt.wantErr {
				var ie *idp.Error
				if !errors.As(err, &ie) || !strings.Contains(ie.Fix, "upload the certificate") {
					t.Fatalf("err = %v, want the assertion refused", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(srv.SecretsSeen()) != 0 {
				t.Errorf("a client secret was sent with a certificate link")
			}
		})
	}
}

func TestNewRejectsIncompleteLinks(t *testing.T) {
	base := entra.Config{TenantID: "t", ServicePrincipalID: "sp", ClientID: "c", ClientSecret: []byte("s")}
	tests := []struct {
		name string
		edit func(*entra.Config)
	}{
		{name: "no tenant", edit: func(c *entra.Config) { c.TenantID = "" }},
		{name: "no service principal", edit: func(c *entra.Config) { c.ServicePrincipalID = "" }},
		{name: "no secret", edit: func(c *entra.Config) { c.ClientSecret = nil }},
		{name: "path in id", edit: func(c *entra.Config) { c.ServicePrincipalID = "../users" }},
		{name: "bad graph url", edit: func(c *entra.Config) { c.GraphURL = "graph.microsoft.com" }},
		{name: "bad attribute", edit: func(c *entra.Config) { c.UserExternalIDAttribute = "mail,id" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			if _, err := entra.New(cfg); err == nil {
				t.Fatal("New accepted an incomplete link")
			}
		})
	}
	if _, err := entra.New(base); err != nil {
		t.Fatalf("New(complete link): %v", err)
	}
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []string
	for _, op := range []graphtest.Op{graphtest.OpToken, graphtest.OpAssignments, graphtest.OpMembers, graphtest.OpUsers} {
		for _, status := range []int{401, 403, 429, 500} {
			srv := smallDirectory(t)
			srv.FailAt(op, 1, status)
			srv.ThrottleAt(graphtest.OpAssignments, 2, time.Second)
			_, err := newReader(t, srv, newClock(), func(c *entra.Config) { c.Logger = logger; c.MaxRetries = 1 }).Read(context.Background())
			if err != nil {
				errs = append(errs, fmt.Sprintf("%v %+v", err, errors.Unwrap(err)))
			}
		}
	}
	if len(errs) == 0 || !strings.Contains(logs.String(), "graph throttled") {
		t.Fatalf("nothing failed or logged; the test proves nothing (errors %d, logs %q)", len(errs), logs.String())
	}
	for _, s := range append(errs, logs.String()) {
		if strings.Contains(s, graphtest.ClientSecret) || strings.Contains(s, "eyJ0eXAi") {
			t.Errorf("secret or token leaked: %s", s)
		}
	}
}

// TestForeignNextLinkRefused: the bearer token goes only to the configured
// Graph host, whatever a page's @odata.nextLink says.
func TestForeignNextLinkRefused(t *testing.T) {
	var foreign int
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreign++
		fmt.Fprint(w, `{"value":[]}`)
	}))
	defer evil.Close()
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/token") {
			fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"t"}`)
			return
		}
		fmt.Fprintf(w, `{"value":[{"principalId":"u1","principalType":"User"}],"@odata.nextLink":%q}`, evil.URL+r.URL.Path+"?$skiptoken=x")
	}))
	defer graph.Close()
	r, err := entra.New(entra.Config{TenantID: "t", ServicePrincipalID: "sp", ClientID: "c", ClientSecret: []byte("s"), GraphURL: graph.URL, LoginURL: graph.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Read(context.Background())
	var ie *idp.Error
	if !errors.As(err, &ie) || !strings.Contains(ie.Fix, "next link outside") {
		t.Fatalf("err = %v, want the foreign next link refused", err)
	}
	if foreign != 0 {
		t.Errorf("the foreign host got %d requests", foreign)
	}
}

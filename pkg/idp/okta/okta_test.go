package okta_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/okta"
	"github.com/scimgate/scimgate/pkg/idp/okta/oktatest"
)

const (
	appID    = "0oa1app"
	apiToken = "00SSWS-secret-token-value"
)

// fakeTime is the injected clock and sleeper: sleeping moves the clock.
type fakeTime struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (f *fakeTime) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeTime) Sleep(_ context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func newFakeTime() *fakeTime {
	return &fakeTime{now: time.Date(2026, 12, 2, 10, 0, 30, 0, time.UTC)}
}

// populate gives the double n users (every third deprovisioned) and two
// pushed groups and one unpushed.
func populate(s *oktatest.Server, n int) {
	for i := range n {
		status := "PROVISIONED"
		if i%3 == 2 {
			status = "DEPROVISIONED"
		}
		s.AddUser(oktatest.AppUser{ID: fmt.Sprintf("00u%05d", i), ExternalID: fmt.Sprintf("scim-%05d", i),
			Status: status, UserName: fmt.Sprintf("user%d@example.com", i)})
	}
	s.AddGroup(oktatest.Group{ID: "00gA", Name: "Engineering", Members: []string{"00u00000", "00u00001", "00u00003"}})
	s.AddGroup(oktatest.Group{ID: "00gB", Name: "Sales", Members: []string{"00u00004"}})
	s.AddGroup(oktatest.Group{ID: "00gC", Name: "Old"})
	s.Push("00gA", "ACTIVE")
	s.Push("00gB", "ACTIVE")
	s.Push("00gC", "INACTIVE")
}

func sswsReader(t *testing.T, s *oktatest.Server, ft *fakeTime) *okta.Reader {
	t.Helper()
	r, err := okta.New(okta.Config{OrgURL: s.URL, AppID: appID, APIToken: apiToken, Clock: ft.Now, Sleep: ft.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReadPagesEverything(t *testing.T) {
	ft := newFakeTime()
	s := oktatest.New(t, appID)
	s.APIToken, s.Clock, s.PageSize = apiToken, ft.Now, 4
	populate(s, 10)
	snap, err := sswsReader(t, s, ft).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Users) != 10 {
		t.Fatalf("read %d users, want 10 across 3 pages", len(snap.Users))
	}
	u := snap.Users[2]
	if u.IdPID != "00u00002" || u.ExternalID != "00u00002" || u.SCIMID != "scim-00002" || u.Assigned || u.Status != "DEPROVISIONED" ||
		u.UserName != "user2@example.com" {
		t.Fatalf("user 2 = %+v", u)
	}
	if !snap.Users[0].Assigned {
		t.Fatalf("a provisioned user is not assigned: %+v", snap.Users[0])
	}
	if len(snap.Groups) != 3 {
		t.Fatalf("groups = %+v", snap.Groups)
	}
	eng := snap.Groups[0]
	if eng.IdPID != "00gA" || eng.DisplayName != "Engineering" || !eng.Pushed || len(eng.MemberIDs) != 3 {
		t.Fatalf("pushed group = %+v", eng)
	}
	if old := snap.Groups[2]; old.Pushed || old.DisplayName != "" {
		t.Fatalf("inactive mapping = %+v (its group must not be read)", old)
	}
	// 3 pages of users, 1 of mappings, and a group plus one members page for each of 2 pushed groups.
	api, _ := s.Requests()
	if snap.Requests != 8 || api != 8 {
		t.Fatalf("requests = %d (double saw %d), want 8", snap.Requests, api)
	}
}

func TestRateLimit(t *testing.T) {
	t.Run("one 429 is waited out until X-Rate-Limit-Reset", func(t *testing.T) {
		ft := newFakeTime()
		s := oktatest.New(t, appID)
		s.APIToken, s.Clock, s.PageSize, s.Throttle = apiToken, ft.Now, 4, 2
		populate(s, 10)
		snap, err := sswsReader(t, s, ft).Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Users) != 10 || snap.Requests != 9 {
			t.Fatalf("%d users in %d requests, want 10 in 9", len(snap.Users), snap.Requests)
		}
		if len(ft.sleeps) != 1 || ft.sleeps[0] != 30*time.Second {
			t.Fatalf("slept %v, want once until the minute resets (30s)", ft.sleeps)
		}
	})
	t.Run("the reserve of X-Rate-Limit-Remaining is kept", func(t *testing.T) {
		ft := newFakeTime()
		s := oktatest.New(t, appID)
		s.APIToken, s.Clock, s.PageSize, s.RateLimit = apiToken, ft.Now, 1, 10
		populate(s, 20)
		snap, err := sswsReader(t, s, ft).Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Users) != 20 {
			t.Fatalf("%d users", len(snap.Users))
		}
		// 20+3 list pages, 2 groups and 4 member pages at 10 a minute keeping 2: it waits before running dry, never gets a 429.
		if snap.Requests != 29 || len(ft.sleeps) < 3 {
			t.Fatalf("%d requests, sleeps %v", snap.Requests, ft.sleeps)
		}
	})
}

func TestPrivateKeyJWT(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	ft := newFakeTime()
	s := oktatest.New(t, appID)
	s.Clock, s.PageSize, s.ClientID, s.PublicKey = ft.Now, 4, "0oaService", &key.PublicKey
	populate(s, 6)
	r, err := okta.New(okta.Config{OrgURL: s.URL, AppID: appID, ClientID: "0oaService", PrivateKey: pemKey, Clock: ft.Now, Sleep: ft.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if snap, err := r.Read(context.Background()); err != nil || len(snap.Users) != 6 {
			t.Fatalf("read = %d users, %v", len(snap.Users), err)
		}
	}
	if _, tokens := s.Requests(); tokens != 1 {
		t.Fatalf("%d token requests for two runs within the hour, want 1 (cached)", tokens)
	}
	ft.Sleep(context.Background(), time.Hour)
	if _, err := r.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, tokens := s.Requests(); tokens != 2 {
		t.Fatalf("%d token requests after the token expired, want 2", tokens)
	}

	// A key the service app does not have is refused at the token endpoint.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ = x509.MarshalPKCS8PrivateKey(other)
	wrong, err := okta.New(okta.Config{OrgURL: s.URL, AppID: appID, ClientID: "0oaService",
		PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), Clock: ft.Now, Sleep: ft.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.Read(context.Background())
	wantIdPError(t, err, http.StatusUnauthorized, "public key")
}

func wantIdPError(t *testing.T, err error, status int, fix string) {
	t.Helper()
	var e *idp.Error
	if !errors.As(err, &e) || e.Status != status || !strings.Contains(e.Fix, fix) || e.Kind != idp.Okta {
		t.Fatalf("error = %v, want an okta idp.Error with status %d and a fix naming %q", err, status, fix)
	}
	if strings.Contains(err.Error(), apiToken) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q holds the token or more than one line", err)
	}
}

func TestFailuresReturnNoSnapshot(t *testing.T) {
	tests := []struct {
		name   string
		fault  oktatest.Fault
		token  string
		app    string
		status int
		fix    string
	}{
		{"401 wrong token", oktatest.Fault{}, "wrong", appID, 401, "credentials"},
		{"403 mid-paging", oktatest.Fault{Path: "/api/v1/apps/", Nth: 2, Status: 403}, apiToken, appID, 403, "Read-only Administrator"},
		{"401 mid-paging", oktatest.Fault{Path: "/api/v1/apps/", Nth: 3, Status: 401}, apiToken, appID, 401, "credentials"},
		{"500 mid-paging", oktatest.Fault{Path: "/api/v1/apps/", Nth: 2, Status: 500}, apiToken, appID, 500, "run again later"},
		{"500 on group members", oktatest.Fault{Path: "/api/v1/groups/00gB/users", Nth: 1, Status: 500}, apiToken, appID, 500, "run again later"},
		{"404 app", oktatest.Fault{}, apiToken, "0oaWrong", 404, "--okta-app-id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ft := newFakeTime()
			s := oktatest.New(t, appID)
			s.APIToken, s.Clock, s.PageSize = apiToken, ft.Now, 4
			if tc.fault.Path != "" {
				s.Faults = []oktatest.Fault{tc.fault}
			}
			populate(s, 10)
			r, err := okta.New(okta.Config{OrgURL: s.URL, AppID: tc.app, APIToken: tc.token, Clock: ft.Now, Sleep: ft.Sleep})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := r.Read(context.Background())
			wantIdPError(t, err, tc.status, tc.fix)
			if len(snap.Users) != 0 || len(snap.Groups) != 0 {
				t.Fatalf("a failed read returned a partial snapshot: %d users", len(snap.Users))
			}
		})
	}
}

func TestNextLinkMustStayOnTheOrg(t *testing.T) {
	ft := newFakeTime()
	s := oktatest.New(t, appID)
	s.APIToken, s.Clock, s.PageSize = apiToken, ft.Now, 4
	populate(s, 10)
	// The same double under another origin: its next links name the double's URL, not the link's.
	other := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	r, err := okta.New(okta.Config{OrgURL: other, AppID: appID, APIToken: apiToken, Clock: ft.Now, Sleep: ft.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Read(context.Background())
	var e *idp.Error
	if !errors.As(err, &e) || !strings.Contains(e.Fix, "next link") {
		t.Fatalf("error = %v, want a refusal to follow a next link off the org", err)
	}
}

// TestTenThousandUsersWithinBudget: 10,000 assigned users and three pushed
// groups of 2,000 members are read in exactly RequestBudget requests (20
// pages of users, one of mappings, a group and two member pages each), at
// the page sizes Okta allows, under the apps bucket's 100 a minute without
// a single 429: the reader waits for the window instead.
func TestTenThousandUsersWithinBudget(t *testing.T) {
	ft := newFakeTime()
	s := oktatest.New(t, appID)
	s.APIToken, s.Clock, s.RateLimit = apiToken, ft.Now, 100
	for i := range 10_000 {
		s.AddUser(oktatest.AppUser{ID: fmt.Sprintf("00u%07d", i), ExternalID: fmt.Sprintf("s%07d", i)})
	}
	var members []int
	for g := range 3 {
		ids := make([]string, 2000)
		for i := range ids {
			ids[i] = fmt.Sprintf("00u%07d", g*2000+i)
		}
		id := fmt.Sprintf("00g%d", g)
		s.AddGroup(oktatest.Group{ID: id, Name: id, Members: ids})
		s.Push(id, "ACTIVE")
		members = append(members, len(ids))
	}
	snap, err := sswsReader(t, s, ft).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	budget := okta.RequestBudget(10_000, 3, members, false)
	if len(snap.Users) != 10_000 || snap.Requests != budget || budget != 30 {
		t.Fatalf("%d users in %d requests; budget %d (want 30)", len(snap.Users), snap.Requests, budget)
	}
	if api, _ := s.Requests(); api != budget {
		t.Fatalf("the double answered %d requests (a 429 among them?), budget %d", api, budget)
	}
	for _, g := range snap.Groups {
		if len(g.MemberIDs) != 2000 {
			t.Fatalf("group %s has %d members", g.IdPID, len(g.MemberIDs))
		}
	}
}

func TestRequestBudget(t *testing.T) {
	for _, tc := range []struct {
		users, mappings int
		members         []int
		service         bool
		want            int
	}{
		{0, 0, nil, false, 2},
		{1_000, 10, []int{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}, true, 2 + 1 + 20 + 1},
		{100_000, 50, func() []int {
			m := make([]int, 50)
			for i := range m {
				m[i] = 2_000
			}
			return m
		}(), true, 200 + 1 + 150 + 1},
	} {
		if got := okta.RequestBudget(tc.users, tc.mappings, tc.members, tc.service); got != tc.want {
			t.Errorf("budget(%d users, %d mappings) = %d, want %d", tc.users, tc.mappings, got, tc.want)
		}
	}
}

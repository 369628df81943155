// Package oktatest is a double of the parts of Okta's management API the
// reconcile run reads, written from Okta's published OpenAPI description
// (okta/okta-management-openapi-spec, dist/current/management-minimal.yaml
// and oauth-minimal.yaml): listApplicationUsers, listGroupPushMappings,
// getGroup, listGroupUsers and the org authorization server's token
// endpoint. It pages with Link rel="next" (an opaque after cursor), sends
// the X-Rate-Limit-* headers, can answer one 429, and can fail any request.
package oktatest

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AppUser is Okta's AppUser as the double serves it.
type AppUser struct {
	ID         string `json:"id"`
	ExternalID string `json:"externalId,omitempty"`
	Status     string `json:"status"`
	Scope      string `json:"scope"`
	Created    string `json:"created"`
	// Credentials.userName, the app user name.
	UserName string `json:"-"`
}

// Group is an Okta group with its members' user ids.
type Group struct {
	ID      string
	Name    string
	Members []string
}

// Mapping is a GroupPushMapping.
type Mapping struct {
	ID            string `json:"id"`
	SourceGroupID string `json:"sourceGroupId"`
	TargetGroupID string `json:"targetGroupId"`
	Status        string `json:"status"` // ACTIVE, INACTIVE, ERROR
}

// Fault makes the nth request (1-based, counting all API requests but
// token requests) whose path has the prefix Path answer Status.
type Fault struct {
	Path   string
	Nth    int
	Status int
}

// Server is the double.
type Server struct {
	URL string

	mu       sync.Mutex
	t        testing.TB
	appID    string
	users    []AppUser
	groups   map[string]*Group
	mappings []Mapping

	// PageSize caps every list's page, below Okta's maxima, so that tests
	// page without thousands of users; 0 uses the requested limit.
	PageSize int
	// APIToken is the SSWS token it accepts; empty: SSWS refused.
	APIToken string
	// ClientID and PublicKey are the service app; nil key: OAuth refused.
	ClientID  string
	PublicKey *rsa.PublicKey
	// Clock is the double's time (X-Rate-Limit-Reset, token lifetime).
	Clock func() time.Time
	// RateLimit is X-Rate-Limit-Limit; Remaining counts down per request
	// and is refilled at each minute boundary of Clock.
	RateLimit int
	// Throttle answers 429 once to the nth API request (0: never).
	Throttle int
	Faults   []Fault

	requests, tokenRequests int
	pathCounts              map[string]int
	remaining               int
	window                  int64
	issued                  map[string]time.Time // access token -> expiry
	log                     []string
}

// New starts a double for app appID; it stops with the test.
func New(t testing.TB, appID string) *Server {
	t.Helper()
	s := &Server{t: t, appID: appID, groups: map[string]*Group{}, pathCounts: map[string]int{},
		issued: map[string]time.Time{}, RateLimit: 600, Clock: time.Now}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// AddUser assigns a user to the app.
func (s *Server) AddUser(u AppUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Status == "" {
		u.Status = "PROVISIONED"
	}
	if u.Scope == "" {
		u.Scope = "USER"
	}
	s.users = append(s.users, u)
}

// AddGroup adds an Okta group.
func (s *Server) AddGroup(g Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[g.ID] = &g
}

// Push adds a group push mapping of source group id with status.
func (s *Server) Push(groupID, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.mappings)
	s.mappings = append(s.mappings, Mapping{ID: fmt.Sprintf("gPm%017d", n), SourceGroupID: groupID,
		TargetGroupID: fmt.Sprintf("00gT%016d", n), Status: status})
}

// Requests is how many API requests it answered (token requests apart).
func (s *Server) Requests() (api, token int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.tokenRequests
}

// Log is every request line it saw (method, path and query), for the
// secret scans of the tests.
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, r.Method+" "+r.URL.RequestURI())
	if r.URL.Path == "/oauth2/v1/token" {
		s.token(w, r)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
		return
	}
	s.requests++
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
		return
	}
	for _, f := range s.Faults {
		if strings.HasPrefix(r.URL.Path, f.Path) {
			s.pathCounts[f.Path]++
			if s.pathCounts[f.Path] == f.Nth {
				writeError(w, f.Status, "E0000009", "Internal Server Error")
				return
			}
		}
	}
	now := s.Clock()
	if win := now.Unix() / 60; win != s.window {
		s.window, s.remaining = win, s.RateLimit
	}
	reset := strconv.FormatInt((s.window+1)*60, 10)
	w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(s.RateLimit))
	w.Header().Set("X-Rate-Limit-Reset", reset)
	if s.Throttle == s.requests || s.remaining <= 0 {
		if s.Throttle == s.requests {
			s.Throttle = 0
		}
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		writeError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
		return
	}
	s.remaining--
	w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(s.remaining))

	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 5 && parts[2] == "apps" && parts[4] == "users":
		if parts[3] != s.appID {
			writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+parts[3]+" (App)")
			return
		}
		out := make([]map[string]any, len(s.users))
		for i, u := range s.users {
			m := map[string]any{"id": u.ID, "status": u.Status, "scope": u.Scope, "created": u.Created,
				"credentials": map[string]any{"userName": u.UserName}, "profile": map[string]any{}}
			if u.ExternalID != "" {
				m["externalId"] = u.ExternalID
			}
			out[i] = m
		}
		s.page(w, r, out, 50, 500)
	case len(parts) == 6 && parts[2] == "apps" && parts[4] == "group-push" && parts[5] == "mappings":
		if parts[3] != s.appID {
			writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+parts[3]+" (App)")
			return
		}
		s.page(w, r, s.mappings, 100, 1000)
	case len(parts) == 4 && parts[2] == "groups":
		g, ok := s.groups[parts[3]]
		if !ok {
			writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+parts[3]+" (UserGroup)")
			return
		}
		writeJSON(w, map[string]any{"id": g.ID, "type": "OKTA_GROUP", "objectClass": []string{"okta:user_group"},
			"profile": map[string]any{"name": g.Name, "description": ""}})
	case len(parts) == 5 && parts[2] == "groups" && parts[4] == "users":
		g, ok := s.groups[parts[3]]
		if !ok {
			writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+parts[3]+" (UserGroup)")
			return
		}
		out := make([]map[string]any, len(g.Members))
		for i, id := range g.Members {
			out[i] = map[string]any{"id": id, "status": "ACTIVE", "profile": map[string]any{}}
		}
		s.page(w, r, out, 1000, 1000)
	default:
		writeError(w, http.StatusNotFound, "E0000022", "The endpoint does not exist.")
	}
}

// page answers one page of all after the opaque cursor, with a Link
// rel="self" and, when more follow, rel="next" (Okta's pagination).
func (s *Server) page(w http.ResponseWriter, r *http.Request, all any, def, maxLimit int) {
	items := toSlice(all)
	q := r.URL.Query()
	limit := def
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: limit")
			return
		}
		limit = min(n, maxLimit)
	}
	if s.PageSize > 0 {
		limit = min(limit, s.PageSize)
	}
	start := 0
	if a := q.Get("after"); a != "" {
		// The cursor is opaque to clients: "c" + offset, reversed, so a
		// client that builds it itself instead of following the link fails.
		n, err := strconv.Atoi(reverse(strings.TrimPrefix(a, "c")))
		if err != nil || !strings.HasPrefix(a, "c") || n < 0 || n > len(items) {
			writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: after")
			return
		}
		start = n
	}
	end := min(start+limit, len(items))
	self := s.URL + r.URL.RequestURI()
	w.Header().Add("Link", "<"+self+`>; rel="self"`)
	if end < len(items) {
		q.Set("after", "c"+reverse(strconv.Itoa(end)))
		q.Set("limit", strconv.Itoa(limit))
		next := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		w.Header().Add("Link", "<"+s.URL+next.RequestURI()+`>; rel="next"`)
	}
	writeJSON(w, items[start:end])
}

func toSlice(v any) []any {
	switch x := v.(type) {
	case []map[string]any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = x[i]
		}
		return out
	case []Mapping:
		out := make([]any, len(x))
		for i := range x {
			out[i] = x[i]
		}
		return out
	}
	panic(fmt.Sprintf("oktatest: cannot page %T", v))
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "SSWS "); ok {
		return s.APIToken != "" && tok == s.APIToken
	}
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		exp, found := s.issued[tok]
		return found && s.Clock().Before(exp)
	}
	return false
}

// token is the org authorization server's /oauth2/v1/token for the client
// credentials grant with private_key_jwt: the assertion must be signed
// RS256 by the service app's key, with iss = sub = client id, aud = this
// endpoint, and not expired; the scopes must be granted.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.tokenRequests++
	oauthError := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		oauthError(http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" ||
		f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		oauthError(http.StatusBadRequest, "invalid_request", "client_credentials with a jwt-bearer client assertion only")
		return
	}
	if s.PublicKey == nil {
		oauthError(http.StatusUnauthorized, "invalid_client", "no service app")
		return
	}
	endpoint := s.URL + "/oauth2/v1/token"
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(f.Get("client_assertion"), claims, func(t *jwt.Token) (any, error) {
		return s.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(endpoint), jwt.WithIssuer(s.ClientID),
		jwt.WithSubject(s.ClientID), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.Clock))
	if err != nil || claims.ID == "" {
		oauthError(http.StatusUnauthorized, "invalid_client", "The client_assertion signature is invalid.")
		return
	}
	granted := strings.Fields(f.Get("scope"))
	for _, want := range []string{"okta.apps.read", "okta.groups.read", "okta.users.read"} {
		if !slices.Contains(granted, want) {
			oauthError(http.StatusBadRequest, "invalid_scope", "The requested scope is invalid, unknown, or malformed.")
			return
		}
	}
	tok := fmt.Sprintf("eyJ.access.%d", s.tokenRequests)
	s.issued[tok] = s.Clock().Add(time.Hour)
	writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": tok, "scope": f.Get("scope")})
}

// Expire makes every access token it issued invalid (a revoked token).
func (s *Server) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.issued)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers Okta's Error object.
func writeError(w http.ResponseWriter, status int, code, summary string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errorCode": code, "errorSummary": summary,
		"errorLink": code, "errorId": "oae-double", "errorCauses": []any{}})
}

// Package graphtest is a Microsoft Graph and Microsoft identity platform
// double for tests of the Entra reader and of the drift run that uses it.
//
// It serves, on one loopback httptest server usable as both the Graph and the
// login base URL, only what the reader reads, shaped after the v1.0 CSDL
// (microsoftgraph/msgraph-metadata schemas/v1.0-Prod.csdl) and Graph's
// documented behaviour:
//
//   - POST /{tenant}/oauth2/v2.0/token: client credentials grant with
//     client_secret or a private_key_jwt client_assertion (PS256, x5t#S256),
//     answering AADSTS error codes as Entra does;
//   - GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo (appRoleAssignment);
//   - GET /v1.0/groups/{id}/members and .../members/microsoft.graph.user;
//   - GET /v1.0/users and /v1.0/groups with $filter=id in (...) (at most 15);
//   - GET /v1.0/servicePrincipals/{id}/synchronization/jobs and
//     .../jobs/{jobId}/schema, POST .../jobs/{jobId}/provisionOnDemand.
//
// Collections page with @odata.nextLink carrying an opaque $skiptoken; $select
// is honoured (an unknown property is a 400, no $select gives Graph's default
// user properties, which lack accountEnabled and mailNickname). Any request
// can be made to answer 401, 403, 404, 500 or one 429 with Retry-After.
package graphtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/idp/entra"
)

// The ids the double answers to; Config fills them in.
const (
	TenantID           = "8c0f6b9e-5d3a-4e7b-9a1c-2f4d6e8a0b1c"
	ServicePrincipalID = "3b7e1f2a-9c4d-4a5b-8e6f-0d1c2b3a4f5e"
	ClientID           = "a1b2c3d4-e5f6-4789-8abc-def012345678"
	ClientSecret       = "graphtest~secret.Value-0123456789"
	JobID              = "scim.8c0f6b9e5d3a4e7b9a1c2f4d6e8a0b1c.3b7e1f2a-9c4d-4a5b-8e6f-0d1c2b3a4f5e"
	RuleID             = "03f7d90d-bf71-41b1-bda6-aaf0ddbee5d8"
)

// User is a directory user. Attributes holds further $select-able string
// properties (e.g. employeeId).
type User struct {
	ID                string
	UserPrincipalName string
	MailNickname      string
	DisplayName       string
	AccountEnabled    bool
	Attributes        map[string]string
}

// Group is a security group; MemberIDs may name users and groups.
type Group struct {
	ID           string
	DisplayName  string
	MailNickname string
	MemberIDs    []string
}

// Assignment is an appRoleAssignment to the service principal.
// PrincipalType is "User", "Group" or "ServicePrincipal".
type Assignment struct {
	PrincipalID   string
	PrincipalType string
}

// Op names what a request asks for, for counting and fault injection.
type Op string

const (
	OpToken       Op = "token"
	OpAssignments Op = "appRoleAssignedTo"
	OpMembers     Op = "members"
	OpUsers       Op = "users"
	OpGroups      Op = "groups"
	OpJobs        Op = "jobs"
	OpSchema      Op = "schema"
	OpProvision   Op = "provisionOnDemand"
)

// Server is the running double.
type Server struct {
	// URL is both the Graph and the login base URL.
	URL string
	// Now stamps provisionOnDemand calls; tests with a fake clock set it.
	Now func() time.Time

	mu          sync.Mutex
	users       map[string]User
	groups      map[string]Group
	assignments []Assignment
	pageSize    int
	cert        *x509.Certificate
	tokens      map[string]bool
	counts      map[Op]int
	total       int
	faults      map[Op]map[int]fault
	provisioned []Provisioned
	seenJTI     map[string]bool
	seenSecrets []string
}

// Provisioned is one subject a provisionOnDemand call asked for.
type Provisioned struct {
	ObjectID string
	RuleID   string
	At       time.Time
}

type fault struct {
	status     int
	retryAfter time.Duration
}

// New starts the double with a directory and the service principal's
// assignments; it closes when the test ends.
func New(t testing.TB, users []User, groups []Group, assignments []Assignment) *Server {
	t.Helper()
	s := &Server{
		Now:         time.Now,
		users:       map[string]User{},
		groups:      map[string]Group{},
		assignments: append([]Assignment(nil), assignments...),
		pageSize:    100,
		tokens:      map[string]bool{},
		counts:      map[Op]int{},
		faults:      map[Op]map[int]fault{},
		seenJTI:     map[string]bool{},
	}
	for _, u := range users {
		s.users[u.ID] = u
	}
	for _, g := range groups {
		s.groups[g.ID] = g
	}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Config is an entra.Config for this double, authenticating with the client
// secret.
func (s *Server) Config() entra.Config {
	return entra.Config{
		TenantID:           TenantID,
		ServicePrincipalID: ServicePrincipalID,
		ClientID:           ClientID,
		ClientSecret:       []byte(ClientSecret),
		GraphURL:           s.URL,
		LoginURL:           s.URL,
	}
}

// SetPageSize caps every page at n objects (Graph's default is 100, its
// maximum $top 999).
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// TrustCertificate accepts client assertions signed by cert's key.
func (s *Server) TrustCertificate(cert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cert = cert
}

// FailAt makes the nth request (1-based, retries included) of op answer
// status with a Graph error body.
func (s *Server) FailAt(op Op, nth, status int) {
	s.setFault(op, nth, fault{status: status})
}

// ThrottleAt makes the nth request of op answer 429 with Retry-After.
func (s *Server) ThrottleAt(op Op, nth int, retryAfter time.Duration) {
	s.setFault(op, nth, fault{status: http.StatusTooManyRequests, retryAfter: retryAfter})
}

func (s *Server) setFault(op Op, nth int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults[op] == nil {
		s.faults[op] = map[int]fault{}
	}
	s.faults[op][nth] = f
}

// Requests is how many requests the double answered.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// RequestsFor is how many requests of op the double answered.
func (s *Server) RequestsFor(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// Provisioned lists the provisionOnDemand subjects in call order.
func (s *Server) Provisioned() []Provisioned {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Provisioned(nil), s.provisioned...)
}

var (
	tokenPath  = regexp.MustCompile(`^/([^/]+)/oauth2/v2\.0/token$`)
	spPath     = regexp.MustCompile(`^/v1\.0/servicePrincipals/([^/]+)/(appRoleAssignedTo|synchronization/jobs)(?:/([^/]+)/(schema|provisionOnDemand))?$`)
	membersRe  = regexp.MustCompile(`^/v1\.0/groups/([^/]+)/members(/microsoft\.graph\.user)?$`)
	byIDPath   = regexp.MustCompile(`^/v1\.0/(users|groups)$`)
	idInFilter = regexp.MustCompile(`^id in \((.*)\)$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.classify(r.URL.Path)
	s.total++
	s.counts[op]++
	if f, ok := s.faults[op][s.counts[op]]; ok {
		if f.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter/time.Second)))
			graphErr(w, f.status, "TooManyRequests", "Too many requests")
			return
		}
		switch f.status {
		case http.StatusUnauthorized:
			graphErr(w, f.status, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
		case http.StatusForbidden:
			graphErr(w, f.status, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		case http.StatusNotFound:
			graphErr(w, f.status, "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present.")
		default:
			graphErr(w, f.status, "generalException", "General exception while processing.")
		}
		return
	}
	if op == OpToken {
		s.token(w, r)
		return
	}
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !s.tokens[auth] {
		graphErr(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		graphErr(w, http.StatusBadRequest, "BadRequest", "Invalid query")
		return
	}
	switch op {
	case OpAssignments, OpJobs, OpSchema, OpProvision:
		m := spPath.FindStringSubmatch(r.URL.Path)
		if m[1] != ServicePrincipalID {
			graphErr(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+m[1]+"' does not exist or one of its queried reference-property objects are not present.")
			return
		}
		switch op {
		case OpAssignments:
			s.listAssignments(w, r, q)
		case OpJobs:
			writeJSON(w, http.StatusOK, map[string]any{"value": []any{map[string]any{
				"id": JobID, "templateId": "scim",
				"schedule":                   map[string]any{"interval": "PT40M", "state": "Active"},
				"status":                     map[string]any{"code": "Active", "countSuccessiveCompleteFailures": 0, "escrowsPruned": false},
				"synchronizationJobSettings": []any{},
			}}})
		case OpSchema:
			if m[3] != JobID {
				graphErr(w, http.StatusNotFound, "Request_ResourceNotFound", "job not found")
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"id": JobID, "version": "Date:2026-01-01", "synchronizationRules": []any{map[string]any{
				"id": RuleID, "name": "USER_OUTBOUND_TEAM", "editable": true, "priority": 1,
				"sourceDirectoryName": "Azure Active Directory", "targetDirectoryName": "customappsso",
				"metadata": []any{}, "objectMappings": []any{},
			}}})
		case OpProvision:
			s.provisionOnDemand(w, r, m[3])
		}
	case OpMembers:
		s.listMembers(w, r, q)
	case OpUsers, OpGroups:
		s.listByID(w, r, op, q)
	default:
		graphErr(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+r.URL.Path+"'.")
	}
}

func (s *Server) classify(path string) Op {
	switch {
	case tokenPath.MatchString(path):
		return OpToken
	case membersRe.MatchString(path):
		return OpMembers
	case byIDPath.MatchString(path):
		return Op(byIDPath.FindStringSubmatch(path)[1])
	}
	if m := spPath.FindStringSubmatch(path); m != nil {
		switch {
		case m[2] == "appRoleAssignedTo" && m[3] == "":
			return OpAssignments
		case m[4] == "schema":
			return OpSchema
		case m[4] == "provisionOnDemand":
			return OpProvision
		case m[3] == "":
			return OpJobs
		}
	}
	return Op("unknown")
}

// token is the v2.0 token endpoint's client credentials grant.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	tenant := tokenPath.FindStringSubmatch(r.URL.Path)[1]
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		aadErr(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	switch {
	case tenant != TenantID:
		aadErr(w, http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+tenant+"' not found.")
		return
	case f.Get("grant_type") != "client_credentials":
		aadErr(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	case f.Get("client_id") != ClientID:
		aadErr(w, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier was not found in the directory.")
		return
	case f.Get("scope") != s.URL+"/.default":
		aadErr(w, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid.")
		return
	}
	if a := f.Get("client_assertion"); a != "" {
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			aadErr(w, http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type.")
			return
		}
		if err := s.verifyAssertion(a, s.URL+r.URL.Path); err != nil {
			aadErr(w, http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation: "+err.Error())
			return
		}
	} else {
		s.seenSecrets = append(s.seenSecrets, f.Get("client_secret"))
		if f.Get("client_secret") != ClientSecret {
			aadErr(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
			return
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0." + hex.EncodeToString(b[:])
	s.tokens[tok] = true
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
}

// verifyAssertion checks a private_key_jwt assertion as Microsoft's
// "certificate credentials" page describes it.
func (s *Server) verifyAssertion(a, audience string) error {
	if s.cert == nil {
		return fmt.Errorf("no certificate uploaded")
	}
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWS")
	}
	var header map[string]string
	var claims map[string]any
	if err := decodeSegment(parts[0], &header); err != nil {
		return err
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return err
	}
	s256 := sha256.Sum256(s.cert.Raw)
	s1 := sha1.Sum(s.cert.Raw)
	if header["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) && header["x5t"] != base64.RawURLEncoding.EncodeToString(s1[:]) {
		return fmt.Errorf("unknown thumbprint")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	pub, ok := s.cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("not an RSA certificate")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch header["alg"] {
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, nil)
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	default:
		err = fmt.Errorf("alg %q", header["alg"])
	}
	if err != nil {
		return err
	}
	now := s.Now().Unix()
	exp, _ := claims["exp"].(float64)
	nbf, _ := claims["nbf"].(float64)
	jti, _ := claims["jti"].(string)
	switch {
	case claims["aud"] != audience:
		return fmt.Errorf("aud")
	case claims["iss"] != ClientID || claims["sub"] != ClientID:
		return fmt.Errorf("iss/sub")
	case int64(exp) < now || int64(nbf) > now+300:
		return fmt.Errorf("expired")
	case jti == "" || s.seenJTI[jti]:
		return fmt.Errorf("jti replayed")
	}
	s.seenJTI[jti] = true
	return nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (s *Server) listAssignments(w http.ResponseWriter, r *http.Request, q url.Values) {
	var all []map[string]any
	for i, a := range s.assignments {
		name := ""
		if u, ok := s.users[a.PrincipalID]; ok {
			name = u.DisplayName
		} else if g, ok := s.groups[a.PrincipalID]; ok {
			name = g.DisplayName
		}
		all = append(all, map[string]any{
			"id":                   fmt.Sprintf("assignment-%06d", i),
			"deletedDateTime":      nil,
			"appRoleId":            "00000000-0000-0000-0000-000000000000",
			"createdDateTime":      "2026-01-01T00:00:00Z",
			"principalDisplayName": name,
			"principalId":          a.PrincipalID,
			"principalType":        a.PrincipalType,
			"resourceDisplayName":  "scimgate",
			"resourceId":           ServicePrincipalID,
		})
	}
	s.page(w, r, q, all, nil)
}

var defaultUserProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

func (s *Server) userObject(u User) map[string]any {
	o := map[string]any{
		"@odata.type": "#microsoft.graph.user", "id": u.ID, "userPrincipalName": u.UserPrincipalName,
		"mailNickname": u.MailNickname, "displayName": u.DisplayName, "accountEnabled": u.AccountEnabled,
		"businessPhones": []string{}, "givenName": nil, "jobTitle": nil, "mail": nil, "mobilePhone": nil,
		"officeLocation": nil, "preferredLanguage": nil, "surname": nil, "employeeId": nil,
	}
	for k, v := range u.Attributes {
		o[k] = v
	}
	return o
}

func groupObject(g Group) map[string]any {
	return map[string]any{"@odata.type": "#microsoft.graph.group", "id": g.ID, "displayName": g.DisplayName,
		"mailNickname": g.MailNickname, "securityEnabled": true, "mailEnabled": false}
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, q url.Values) {
	m := membersRe.FindStringSubmatch(r.URL.Path)
	g, ok := s.groups[m[1]]
	if !ok {
		graphErr(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+m[1]+"' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	var all []map[string]any
	for _, id := range g.MemberIDs {
		if u, ok := s.users[id]; ok {
			all = append(all, s.userObject(u))
		} else if sub, ok := s.groups[id]; ok && m[2] == "" {
			all = append(all, groupObject(sub))
		}
	}
	var def []string
	if m[2] != "" {
		def = defaultUserProps
	}
	s.page(w, r, q, all, def)
}

func (s *Server) listByID(w http.ResponseWriter, r *http.Request, op Op, q url.Values) {
	fm := idInFilter.FindStringSubmatch(q.Get("$filter"))
	if fm == nil {
		graphErr(w, http.StatusBadRequest, "Request_UnsupportedQuery", "this double answers only $filter=id in (...)")
		return
	}
	var ids []string
	for _, v := range strings.Split(fm[1], ",") {
		v = strings.TrimSpace(v)
		if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			graphErr(w, http.StatusBadRequest, "BadRequest", "Invalid filter clause")
			return
		}
		ids = append(ids, strings.ReplaceAll(v[1:len(v)-1], "''", "'"))
	}
	if len(ids) > 15 {
		graphErr(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Too many child clauses specified in search filter expression containing 'OR' operators: "+strconv.Itoa(len(ids))+". Max allowed: 15.")
		return
	}
	var all []map[string]any
	for _, id := range ids {
		if op == OpUsers {
			if u, ok := s.users[id]; ok {
				all = append(all, s.userObject(u))
			}
		} else if g, ok := s.groups[id]; ok {
			all = append(all, groupObject(g))
		}
	}
	var def []string
	if op == OpUsers {
		def = defaultUserProps
	}
	s.page(w, r, q, all, def)
}

// page answers one page of all after $skiptoken, honouring $top and $select;
// def is the property set returned without $select (nil: all).
func (s *Server) page(w http.ResponseWriter, r *http.Request, q url.Values, all []map[string]any, def []string) {
	size := s.pageSize
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			graphErr(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
			return
		}
		size = min(size, n)
	}
	offset := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(b), "X'") {
			graphErr(w, http.StatusBadRequest, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
		offset, err = strconv.Atoi(strings.TrimPrefix(string(b), "X'"))
		if err != nil {
			graphErr(w, http.StatusBadRequest, "Directory_ExpiredPageToken", "bad page token")
			return
		}
	}
	props := def
	if sel := q.Get("$select"); sel != "" {
		props = strings.Split(sel, ",")
	}
	var out []map[string]any
	for _, o := range all[min(offset, len(all)):min(offset+size, len(all))] {
		if props == nil {
			out = append(out, o)
			continue
		}
		p := map[string]any{}
		if t, ok := o["@odata.type"]; ok {
			p["@odata.type"] = t
		}
		for _, name := range props {
			v, ok := o[name]
			if !ok {
				graphErr(w, http.StatusBadRequest, "Request_BadRequest", "Could not find a property named '"+name+"' on type 'microsoft.graph.directoryObject'.")
				return
			}
			p[name] = v
		}
		out = append(out, p)
	}
	if out == nil {
		out = []map[string]any{}
	}
	body := map[string]any{"@odata.context": s.URL + "/v1.0/$metadata#directoryObjects", "value": out}
	if offset+size < len(all) {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("X'"+strconv.Itoa(offset+size))))
		body["@odata.nextLink"] = s.URL + r.URL.Path + "?" + next.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) provisionOnDemand(w http.ResponseWriter, r *http.Request, jobID string) {
	if r.Method != http.MethodPost {
		graphErr(w, http.StatusMethodNotAllowed, "BadRequest", "method")
		return
	}
	if jobID != JobID {
		graphErr(w, http.StatusNotFound, "Request_ResourceNotFound", "job not found")
		return
	}
	var body struct {
		Parameters []struct {
			RuleID   string `json:"ruleId"`
			Subjects []struct {
				ObjectID       string `json:"objectId"`
				ObjectTypeName string `json:"objectTypeName"`
			} `json:"subjects"`
		} `json:"parameters"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || len(body.Parameters) == 0 {
		graphErr(w, http.StatusBadRequest, "BadRequest", "Invalid request body")
		return
	}
	var done []Provisioned
	for _, p := range body.Parameters {
		if p.RuleID != RuleID || len(p.Subjects) == 0 {
			graphErr(w, http.StatusBadRequest, "BadRequest", "ruleId is not a rule of the job's schema")
			return
		}
		for _, sub := range p.Subjects {
			if _, ok := s.users[sub.ObjectID]; !ok || sub.ObjectTypeName != "User" {
				graphErr(w, http.StatusBadRequest, "BadRequest", "subject is not a user of the directory")
				return
			}
			done = append(done, Provisioned{ObjectID: sub.ObjectID, RuleID: p.RuleID, At: s.Now()})
		}
	}
	s.provisioned = append(s.provisioned, done...)
	detail, _ := json.Marshal(map[string]any{"provisioningSteps": []any{}, "sourceIdentity": map[string]any{"id": done[0].ObjectID}})
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": s.URL + "/v1.0/$metadata#microsoft.graph.stringKeyStringValuePair",
		"key":            "Microsoft.Identity.Health.CPP.Common.DataContracts.SyncFabric.StatusInfo",
		"value":          string(detail),
	})
}

// SecretsSeen lists the client secrets the token endpoint received, so a
// test can check a secret went only where it belongs.
func (s *Server) SecretsSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.seenSecrets...)
	sort.Strings(out)
	return out
}

func graphErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{"date": "2026-01-01T00:00:00", "request-id": "00000000-0000-0000-0000-000000000000"},
	}})
}

func aadErr(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s", aadsts, desc),
		"error_codes":       []int{aadsts},
		"timestamp":         "2026-01-01 00:00:00Z",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

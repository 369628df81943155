// Package entra reads Microsoft Entra ID's own view of one enterprise app
// through Microsoft Graph: who is assigned to the app's service principal
// (directly or through a group), which groups are assigned and so pushed, and
// the user attributes Entra's default SCIM mapping sends. It also asks Entra to
// provision a user now (provisionOnDemand), the only repair that adds access,
// which scimgate leaves to the IdP.
//
// Graph reference: the v1.0 CSDL (microsoftgraph/msgraph-metadata
// schemas/v1.0-Prod.csdl): servicePrincipal.appRoleAssignedTo is a
// Collection(graph.appRoleAssignment) with principalId, principalType and
// principalDisplayName; group.members is a Collection(graph.directoryObject),
// narrowed to users by the microsoft.graph.user cast segment.
package entra

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/scimgate/scimgate/pkg/idp"
)

// Public-cloud endpoints. National clouds use others (docs/reconcile-entra.md):
// US Government L4/L5 https://graph.microsoft.us (DoD: https://dod-graph.microsoft.us)
// with https://login.microsoftonline.us; China (21Vianet)
// https://microsoftgraph.chinacloudapi.cn with https://login.chinacloudapi.cn.
const (
	DefaultGraphURL = "https://graph.microsoft.com"
	DefaultLoginURL = "https://login.microsoftonline.com"
)

// Join attributes under Entra's default attribute mapping for a non-gallery
// SCIM app: externalId ← mailNickname for users, externalId ← objectId for
// groups.
const (
	DefaultUserExternalIDAttribute  = "mailNickname"
	DefaultGroupExternalIDAttribute = "objectId"
)

// idsPerFilter is how many ids one `$filter=id in (...)` carries. Graph caps
// the `in` operator at 15 expressions per filter clause by default
// (learn.microsoft.com/graph/filter-query-parameter).
const idsPerFilter = 15

// pageSize is the $top asked for; 999 is the most Graph's directory
// collections return per page.
const pageSize = 999

// Certificate is the app registration's certificate credential: the client
// proves itself with a signed JWT (private_key_jwt) whose header names the
// certificate by thumbprint, instead of a client secret.
type Certificate struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
}

// Config is one Entra link, secrets already resolved by the caller.
type Config struct {
	TenantID string
	// ServicePrincipalID is the enterprise app's object id (Enterprise
	// applications > the app > Properties > Object ID), not the app
	// registration's application (client) id.
	ServicePrincipalID string
	ClientID           string
	// ClientSecret or Certificate authenticates the client; Certificate wins
	// when both are set.
	ClientSecret []byte
	Certificate  *Certificate

	GraphURL string // default DefaultGraphURL
	LoginURL string // default DefaultLoginURL

	// UserExternalIDAttribute is the user attribute the app's mapping sends
	// as the SCIM externalId (default mailNickname); it must be a user
	// property Graph can $select, e.g. userPrincipalName, employeeId, or
	// "objectId"/"id" for the object id.
	UserExternalIDAttribute string
	// GroupExternalIDAttribute is the group attribute sent as externalId
	// (default objectId, i.e. the group's id); e.g. displayName or
	// mailNickname when the admin changed the mapping.
	GroupExternalIDAttribute string

	// SyncJobID and SyncRuleID pin the provisioning job and rule
	// provisionOnDemand uses; found from the service principal when empty.
	SyncJobID  string
	SyncRuleID string

	HTTPClient *http.Client
	Now        func() time.Time
	// Sleep waits d or until ctx ends; injected so tests never sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxRetries is how many 429 answers one request may get before the run
	// gives up (default 5).
	MaxRetries int
	Logger     *slog.Logger
}

// Reader reads one Entra app through Graph. It is an idp.Reader and an
// idp.Provisioner; safe for use by one run at a time.
type Reader struct {
	cfg Config

	mu          sync.Mutex
	token       string
	tokenExpiry time.Time

	// provision keeps the send times of the last provisionOnDemand calls for
	// the 5-per-10-s bound.
	provision []time.Time
	jobID     string
	ruleID    string
}

var (
	_ idp.Reader      = (*Reader)(nil)
	_ idp.Provisioner = (*Reader)(nil)
)

// New checks cfg and fills in defaults.
func New(cfg Config) (*Reader, error) {
	var missing []string
	if cfg.TenantID == "" {
		missing = append(missing, "tenant id")
	}
	if cfg.ServicePrincipalID == "" {
		missing = append(missing, "service principal id")
	}
	if cfg.ClientID == "" {
		missing = append(missing, "client id")
	}
	if len(cfg.ClientSecret) == 0 && cfg.Certificate == nil {
		missing = append(missing, "client secret or certificate")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("entra link: missing %s", strings.Join(missing, ", "))
	}
	if cfg.Certificate != nil && (cfg.Certificate.Cert == nil || cfg.Certificate.Key == nil) {
		return nil, errors.New("entra link: certificate needs both the certificate and its private key")
	}
	for _, id := range []string{cfg.TenantID, cfg.ServicePrincipalID} {
		if strings.ContainsAny(id, "/?#% ") {
			return nil, fmt.Errorf("entra link: %q is not a tenant or object id", id)
		}
	}
	if cfg.GraphURL == "" {
		cfg.GraphURL = DefaultGraphURL
	}
	if cfg.LoginURL == "" {
		cfg.LoginURL = DefaultLoginURL
	}
	cfg.GraphURL = strings.TrimRight(cfg.GraphURL, "/")
	cfg.LoginURL = strings.TrimRight(cfg.LoginURL, "/")
	for _, u := range []string{cfg.GraphURL, cfg.LoginURL} {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return nil, fmt.Errorf("entra link: %q is not an http(s) base URL", u)
		}
	}
	if cfg.UserExternalIDAttribute == "" {
		cfg.UserExternalIDAttribute = DefaultUserExternalIDAttribute
	}
	if cfg.GroupExternalIDAttribute == "" {
		cfg.GroupExternalIDAttribute = DefaultGroupExternalIDAttribute
	}
	for _, a := range []string{cfg.UserExternalIDAttribute, cfg.GroupExternalIDAttribute} {
		if !isPropertyName(a) {
			return nil, fmt.Errorf("entra link: %q is not a Graph property name", a)
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reader{cfg: cfg, jobID: cfg.SyncJobID, ruleID: cfg.SyncRuleID}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func isPropertyName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return s != ""
}

// graphProperty maps the Entra provisioning attribute name to the Graph
// property: provisioning calls the object id objectId, Graph calls it id.
func graphProperty(attr string) string {
	if attr == "objectId" {
		return "id"
	}
	return attr
}

// run carries one Read's request count.
type run struct {
	r        *Reader
	requests int
}

// Read reads the app's assignments, the assigned groups' direct members and
// the assigned users' attributes. It returns a Snapshot only when every page
// was read.
func (r *Reader) Read(ctx context.Context) (idp.Snapshot, error) {
	rn := &run{r: r}
	snap, err := rn.read(ctx)
	if err != nil {
		return idp.Snapshot{}, err
	}
	snap.Requests = rn.requests
	return snap, nil
}

type assignment struct {
	PrincipalID          string `json:"principalId"`
	PrincipalType        string `json:"principalType"`
	PrincipalDisplayName string `json:"principalDisplayName"`
}

func (rn *run) read(ctx context.Context) (idp.Snapshot, error) {
	cfg := rn.r.cfg
	// 1. Who is assigned. appRoleAssignedTo lists every principal given any
	// app role of the service principal, including the default access role.
	q := url.Values{"$select": {"principalId,principalType,principalDisplayName"}, "$top": {fmt.Sprint(pageSize)}}
	first := cfg.GraphURL + "/v1.0/servicePrincipals/" + url.PathEscape(cfg.ServicePrincipalID) + "/appRoleAssignedTo?" + q.Encode()
	var directUsers, groupIDs []string
	groupNames := map[string]string{}
	seen := map[string]bool{}
	err := rn.pages(ctx, opAssignments, first, func(raw json.RawMessage) error {
		var a assignment
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		if seen[a.PrincipalType+a.PrincipalID] {
			return nil // one row per app role; a principal may hold several
		}
		seen[a.PrincipalType+a.PrincipalID] = true
		switch a.PrincipalType {
		case "User":
			directUsers = append(directUsers, a.PrincipalID)
		case "Group":
			groupIDs = append(groupIDs, a.PrincipalID)
			groupNames[a.PrincipalID] = a.PrincipalDisplayName
		}
		// ServicePrincipal assignments are not provisioned over SCIM.
		return nil
	})
	if err != nil {
		return idp.Snapshot{}, err
	}

	users := map[string]*idp.User{}
	userSelect := rn.userSelect()

	// 2. The assigned groups: their external id when the mapping sends
	// something other than the object id, and their direct members.
	// Entra's provisioning does not follow nested groups, so neither do we.
	groupExt := map[string]string{}
	if prop := graphProperty(cfg.GroupExternalIDAttribute); prop != "id" {
		err := rn.byIDs(ctx, opGroups, "/v1.0/groups", groupIDs, "id,displayName,"+prop, func(obj map[string]any) {
			id := str(obj["id"])
			groupExt[id] = str(obj[prop])
			if n := str(obj["displayName"]); n != "" {
				groupNames[id] = n
			}
		})
		if err != nil {
			return idp.Snapshot{}, err
		}
	}
	var groups []idp.Group
	for _, gid := range groupIDs {
		g := idp.Group{IdPID: gid, ExternalID: gid, DisplayName: groupNames[gid], Pushed: true}
		if graphProperty(cfg.GroupExternalIDAttribute) != "id" {
			g.ExternalID = groupExt[gid]
		}
		mq := url.Values{"$select": {userSelect}, "$top": {fmt.Sprint(pageSize)}}
		first := cfg.GraphURL + "/v1.0/groups/" + url.PathEscape(gid) + "/members/microsoft.graph.user?" + mq.Encode()
		err := rn.pages(ctx, opMembers, first, func(raw json.RawMessage) error {
			var obj map[string]any
			if err := json.Unmarshal(raw, &obj); err != nil {
				return err
			}
			u := rn.user(obj)
			if u.IdPID == "" {
				return nil
			}
			g.MemberIDs = append(g.MemberIDs, u.IdPID)
			if _, ok := users[u.IdPID]; !ok {
				users[u.IdPID] = &u
			}
			return nil
		})
		if err != nil {
			return idp.Snapshot{}, err
		}
		groups = append(groups, g)
	}

	// 3. Directly assigned users not already read as a group member.
	var unread []string
	for _, id := range directUsers {
		if _, ok := users[id]; !ok {
			unread = append(unread, id)
		}
	}
	err = rn.byIDs(ctx, opUsers, "/v1.0/users", unread, userSelect, func(obj map[string]any) {
		u := rn.user(obj)
		users[u.IdPID] = &u
	})
	if err != nil {
		return idp.Snapshot{}, err
	}
	// A directly assigned user Graph did not return was deleted between the
	// two reads; it is not assigned any more, so it is left out.

	snap := idp.Snapshot{Groups: groups}
	for _, u := range users {
		snap.Users = append(snap.Users, *u)
	}
	sort.Slice(snap.Users, func(i, j int) bool { return snap.Users[i].IdPID < snap.Users[j].IdPID })
	return snap, nil
}

func (rn *run) userSelect() string {
	sel := []string{"id", "userPrincipalName", "accountEnabled"}
	if p := graphProperty(rn.r.cfg.UserExternalIDAttribute); p != "id" && p != "userPrincipalName" && p != "accountEnabled" {
		sel = append(sel, p)
	}
	return strings.Join(sel, ",")
}

// user turns a Graph user into an idp.User: assigned means reached through an
// assignment and accountEnabled, because Entra's provisioning deactivates
// (active=false) a disabled account rather than removing it.
func (rn *run) user(obj map[string]any) idp.User {
	u := idp.User{
		IdPID:      str(obj["id"]),
		UserName:   str(obj["userPrincipalName"]),
		ExternalID: str(obj[graphProperty(rn.r.cfg.UserExternalIDAttribute)]),
	}
	enabled, _ := obj["accountEnabled"].(bool)
	u.Assigned = enabled
	u.Status = "assigned"
	if !enabled {
		u.Status = "disabled"
	}
	return u
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// byIDs reads objects by id, idsPerFilter at a time, with
// `$filter=id in ('a','b',...)`.
func (rn *run) byIDs(ctx context.Context, o op, path string, ids []string, sel string, each func(map[string]any)) error {
	for start := 0; start < len(ids); start += idsPerFilter {
		chunk := ids[start:min(start+idsPerFilter, len(ids))]
		quoted := make([]string, len(chunk))
		for i, id := range chunk {
			quoted[i] = "'" + strings.ReplaceAll(id, "'", "''") + "'"
		}
		q := url.Values{"$filter": {"id in (" + strings.Join(quoted, ",") + ")"}, "$select": {sel}, "$top": {fmt.Sprint(pageSize)}}
		err := rn.pages(ctx, o, rn.r.cfg.GraphURL+path+"?"+q.Encode(), func(raw json.RawMessage) error {
			var obj map[string]any
			if err := json.Unmarshal(raw, &obj); err != nil {
				return err
			}
			each(obj)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

type page struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// pages GETs link and every @odata.nextLink after it, exactly as Graph gave
// it (the $skiptoken is opaque), calling each for every value.
func (rn *run) pages(ctx context.Context, o op, link string, each func(json.RawMessage) error) error {
	graph, _ := url.Parse(rn.r.cfg.GraphURL)
	for n := 1; link != ""; n++ {
		// The bearer token goes only to the Graph host the link names.
		if u, err := url.Parse(link); err != nil || u.Scheme != graph.Scheme || u.Host != graph.Host {
			return rn.fail(o, 0, "Graph returned a next link outside "+rn.r.cfg.GraphURL+"; check the Graph base URL", fmt.Errorf("page %d: foreign next link", n))
		}
		body, err := rn.do(ctx, o, http.MethodGet, link, nil)
		if err != nil {
			return err
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			return rn.fail(o, 0, "Graph answered something that is not a JSON page; check the Graph base URL", fmt.Errorf("page %d: %w", n, err))
		}
		for _, v := range p.Value {
			if err := each(v); err != nil {
				return rn.fail(o, 0, "Graph answered an object this reader cannot parse", fmt.Errorf("page %d: %w", n, err))
			}
		}
		link = p.NextLink
	}
	return nil
}

// do sends one Graph request with a bearer token, waiting out 429s.
func (rn *run) do(ctx context.Context, o op, method, link string, body []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		token, err := rn.token(ctx)
		if err != nil {
			return nil, err
		}
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(string(body))
		}
		req, err := http.NewRequestWithContext(ctx, method, link, rd)
		if err != nil {
			return nil, rn.fail(o, 0, "check the Graph base URL", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		rn.requests++
		resp, err := rn.r.cfg.HTTPClient.Do(req)
		if err != nil {
			return nil, rn.fail(o, 0, "Microsoft Graph could not be reached; check the Graph base URL and the network, then retry", redactURL(err))
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return nil, rn.fail(o, resp.StatusCode, "reading Graph's answer failed; retry", err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < rn.r.cfg.MaxRetries {
			// Graph throttling: wait what Retry-After says; without it,
			// back off exponentially as Microsoft's guidance asks.
			wait, ok := idp.RetryAfter(resp.Header, rn.r.cfg.Now())
			if !ok {
				wait = time.Duration(1<<attempt) * time.Second
			}
			rn.r.cfg.Logger.InfoContext(ctx, "graph throttled", "op", string(o), "wait", wait.String(), "attempt", attempt+1)
			if err := rn.r.cfg.Sleep(ctx, wait); err != nil {
				return nil, rn.fail(o, 0, "the run was cancelled while Graph throttled it", err)
			}
			continue
		}
		if resp.StatusCode == http.StatusUnauthorized {
			// A refused token is dropped so the next run gets a fresh one.
			rn.r.mu.Lock()
			rn.r.token = ""
			rn.r.mu.Unlock()
		}
		if resp.StatusCode/100 != 2 {
			return nil, rn.fail(o, resp.StatusCode, rn.fix(o, resp.StatusCode), graphError(data))
		}
		return data, nil
	}
}

// redactURL keeps transport errors from echoing a full URL with its query.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// graphError keeps Graph's error code (e.g. Authorization_RequestDenied,
// Request_ResourceNotFound): it names the cause without echoing anything the
// request carried.
func graphError(body []byte) error {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return errors.New("graph error " + e.Error.Code)
	}
	return errors.New("graph error")
}

type op string

const (
	opToken       op = "get token"
	opAssignments op = "list app role assignments"
	opGroups      op = "read assigned groups"
	opMembers     op = "list group members"
	opUsers       op = "read assigned users"
	opJobs        op = "list synchronization jobs"
	opSchema      op = "read synchronization schema"
	opProvision   op = "provision on demand"
)

// permission is the Graph application permission each read needs.
var permission = map[op]string{
	opAssignments: "Application.Read.All",
	opGroups:      "GroupMember.Read.All",
	opMembers:     "GroupMember.Read.All",
	opUsers:       "User.Read.All",
	opJobs:        "Synchronization.ReadWrite.All",
	opSchema:      "Synchronization.ReadWrite.All",
	opProvision:   "Synchronization.ReadWrite.All",
}

func (rn *run) fix(o op, status int) string {
	cfg := rn.r.cfg
	switch {
	case status == http.StatusUnauthorized:
		return "Graph refused the token: check that tenant id " + cfg.TenantID + " is the tenant of the app registration and the Graph and login URLs are the same cloud"
	case status == http.StatusForbidden:
		return "grant the app registration the Microsoft Graph application permission " + permission[o] + " and grant admin consent"
	case status == http.StatusNotFound && (o == opAssignments || o == opJobs):
		return "no service principal " + cfg.ServicePrincipalID + " in tenant " + cfg.TenantID + ": use the enterprise app's Object ID (Enterprise applications > Properties), not the application (client) id"
	case status == http.StatusNotFound && o == opMembers:
		return "an assigned group was deleted while it was read; run again"
	case status == http.StatusNotFound && (o == opSchema || o == opProvision):
		return "the provisioning job is gone: check that provisioning is configured for the enterprise app"
	case status == http.StatusTooManyRequests:
		return "Microsoft Graph kept throttling after retries; run again later or less often"
	case status >= 500:
		return "Microsoft Graph failed; nothing was changed, run again later"
	case status == http.StatusBadRequest && (o == opGroups || o == opUsers || o == opMembers):
		return "Graph refused the query: check the join attribute names of the link"
	}
	return "Graph refused the request"
}

func (rn *run) fail(o op, status int, fix string, err error) error {
	return &idp.Error{Kind: idp.Entra, Op: string(o), Status: status, Fix: fix, Err: err}
}

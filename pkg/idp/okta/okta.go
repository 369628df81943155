// Package okta reads an Okta app's own view of its assignments and group
// pushes from Okta's management API (/api/v1), for the drift run. It reads
// only; every answer but a complete read is an *idp.Error with a one-line
// fix, never a partial Snapshot.
package okta

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scimgate/scimgate/pkg/idp"
)

// Scopes are the OAuth 2.0 scopes the service app is granted: read only.
const Scopes = "okta.apps.read okta.groups.read okta.users.read"

// Page sizes: the maxima the management API documents for each list
// (listApplicationUsers limit ≤ 500, listGroupPushMappings ≤ 1000,
// listGroupUsers default 1000), so a run takes the fewest requests.
const (
	appUsersLimit   = 500
	mappingsLimit   = 1000
	groupUsersLimit = 1000
)

// Config is one link's reader.
type Config struct {
	OrgURL string // https://example.okta.com (or http://127.0.0.1:PORT for a double)
	AppID  string
	// APIToken is an SSWS API token; or ClientID and PrivateKey (PEM, RSA)
	// authenticate an OAuth 2.0 service app with private_key_jwt.
	APIToken   string
	ClientID   string
	PrivateKey []byte

	HTTP  *http.Client
	Clock func() time.Time
	// Sleep waits d or until ctx ends; nil waits on a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxWait bounds one wait for a rate-limit window (default 60 s, Okta's
	// windows are per minute); Max429 the retries of one request (default 3).
	MaxWait time.Duration
	Max429  int
	// Reserve is the share of X-Rate-Limit-Limit left untouched for Okta's
	// own provisioning calls of the same org: when X-Rate-Limit-Remaining
	// falls to it, the reader waits for X-Rate-Limit-Reset (default 0.2).
	Reserve float64
}

// Reader reads one Okta app. It caches the service app's access token for
// its lifetime (expires_in, 1 h at Okta) less a minute; it is safe for
// concurrent use.
type Reader struct {
	cfg Config
	key *rsa.PrivateKey

	mu       sync.Mutex
	token    string
	tokenExp time.Time
}

var _ idp.Reader = (*Reader)(nil)

// New checks cfg and returns its reader.
func New(cfg Config) (*Reader, error) {
	cfg.OrgURL = strings.TrimRight(cfg.OrgURL, "/")
	if _, err := url.Parse(cfg.OrgURL); err != nil || cfg.OrgURL == "" {
		return nil, fmt.Errorf("okta org URL %q is invalid", cfg.OrgURL)
	}
	if cfg.AppID == "" {
		return nil, errors.New("okta app id is required")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = time.Minute
	}
	if cfg.Max429 == 0 {
		cfg.Max429 = 3
	}
	if cfg.Reserve == 0 {
		cfg.Reserve = 0.2
	}
	r := &Reader{cfg: cfg}
	switch {
	case cfg.APIToken != "" && cfg.ClientID == "":
	case cfg.APIToken == "" && cfg.ClientID != "" && len(cfg.PrivateKey) > 0:
		key, err := jwt.ParseRSAPrivateKeyFromPEM(cfg.PrivateKey)
		if err != nil {
			// The parse error names no key material.
			return nil, fmt.Errorf("okta private key: not an RSA private key in PEM: %w", err)
		}
		r.key = key
	default:
		return nil, errors.New("okta auth: give an API token, or a client id and a private key")
	}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// appUser is the part of Okta's AppUser the join needs (management API
// schema AppUser: id, externalId, status, credentials.userName).
type appUser struct {
	ID          string `json:"id"`
	ExternalID  string `json:"externalId"`
	Status      string `json:"status"`
	Credentials struct {
		UserName string `json:"userName"`
	} `json:"credentials"`
}

// groupPushMapping is Okta's GroupPushMapping (id, sourceGroupId, status).
type groupPushMapping struct {
	ID            string `json:"id"`
	SourceGroupID string `json:"sourceGroupId"`
	TargetGroupID string `json:"targetGroupId"`
	Status        string `json:"status"`
}

// group is Okta's Group: its profile.name is what Group Push sends as displayName.
type group struct {
	ID      string `json:"id"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

type user struct {
	ID string `json:"id"`
}

// revokedStatuses are the AppUser statuses that mean the user must not have
// access (schema AppUserStatus): DEPROVISIONED (removed by provisioning),
// SUSPENDED and INACTIVE (provisioned but not enabled), REVOKED (disabled,
// waiting for deprovisioning). Every other status counts as assigned, so that
// a status Okta adds later never deactivates anyone.
var revokedStatuses = map[string]bool{"DEPROVISIONED": true, "SUSPENDED": true, "INACTIVE": true, "REVOKED": true}

// Read implements idp.Reader: the app's users, its push mappings, and for
// each ACTIVE mapping the source group and its members.
func (r *Reader) Read(ctx context.Context) (idp.Snapshot, error) {
	var snap idp.Snapshot
	base := r.cfg.OrgURL + "/api/v1/apps/" + url.PathEscape(r.cfg.AppID)
	appUsers, err := list[appUser](ctx, r, &snap, "list app users", base+"/users?limit="+strconv.Itoa(appUsersLimit))
	if err != nil {
		return idp.Snapshot{}, err
	}
	for _, u := range appUsers {
		snap.Users = append(snap.Users, idp.User{
			IdPID: u.ID, SCIMID: u.ExternalID, ExternalID: u.ID, UserName: u.Credentials.UserName,
			Assigned: !revokedStatuses[u.Status], Status: u.Status,
		})
	}
	mappings, err := list[groupPushMapping](ctx, r, &snap, "list group push mappings",
		base+"/group-push/mappings?limit="+strconv.Itoa(mappingsLimit))
	if err != nil {
		return idp.Snapshot{}, err
	}
	for _, m := range mappings {
		g := idp.Group{IdPID: m.SourceGroupID, Pushed: m.Status == "ACTIVE"}
		if g.Pushed {
			groupURL := r.cfg.OrgURL + "/api/v1/groups/" + url.PathEscape(m.SourceGroupID)
			var og group
			if _, err := r.get(ctx, &snap, "get pushed group "+m.SourceGroupID, groupURL, &og); err != nil {
				return idp.Snapshot{}, err
			}
			g.DisplayName = og.Profile.Name
			members, err := list[user](ctx, r, &snap, "list members of pushed group "+m.SourceGroupID,
				groupURL+"/users?limit="+strconv.Itoa(groupUsersLimit))
			if err != nil {
				return idp.Snapshot{}, err
			}
			for _, u := range members {
				g.MemberIDs = append(g.MemberIDs, u.ID)
			}
		}
		snap.Groups = append(snap.Groups, g)
	}
	return snap, nil
}

// list reads every page of a list, following the Link rel="next" header
// exactly as Okta gives it (https://developer.okta.com/docs/api/#pagination:
// "follow it, don't parse it").
func list[T any](ctx context.Context, r *Reader, snap *idp.Snapshot, op, next string) ([]T, error) {
	var all []T
	for next != "" {
		var page []T
		h, err := r.get(ctx, snap, op, next, &page)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next, err = nextLink(h, r.cfg.OrgURL); err != nil {
			return nil, &idp.Error{Kind: idp.Okta, Op: op, Err: err,
				Fix: "Okta sent a next link outside the org URL: check the org URL of the link"}
		}
	}
	return all, nil
}

// nextLink returns the rel="next" target of the Link headers (RFC 8288), or
// "". It must stay on the org, so the credentials are never sent elsewhere.
func nextLink(h http.Header, org string) (string, error) {
	for _, v := range h.Values("Link") {
		for _, part := range splitLinks(v) {
			target, params, ok := strings.Cut(part, ";")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(name, "rel") && hasRel(strings.Trim(val, `"`), "next") {
					link := target[1 : len(target)-1]
					if !strings.HasPrefix(link, org+"/") {
						return "", fmt.Errorf("next link %q is not on %s", link, org)
					}
					return link, nil
				}
			}
		}
	}
	return "", nil
}

func hasRel(rels, want string) bool {
	for _, r := range strings.Fields(rels) {
		if strings.EqualFold(r, want) {
			return true
		}
	}
	return false
}

// splitLinks splits one Link header value at the commas between links,
// not at commas inside <...>.
func splitLinks(v string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range v {
		switch c {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

// get fetches one URL into out, waiting out 429s and keeping under the
// rate limit; it returns the answer's headers for paging.
func (r *Reader) get(ctx context.Context, snap *idp.Snapshot, op, target string, out any) (http.Header, error) {
	for attempt := 0; ; attempt++ {
		auth, err := r.authorization(ctx, snap)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, &idp.Error{Kind: idp.Okta, Op: op, Err: err, Fix: "check the org URL of the link"}
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", auth)
		snap.Requests++
		resp, err := r.cfg.HTTP.Do(req)
		if err != nil {
			return nil, &idp.Error{Kind: idp.Okta, Op: op, Err: redact(err),
				Fix: "cannot reach the Okta org: check the org URL and the network"}
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return nil, &idp.Error{Kind: idp.Okta, Op: op, Err: err, Fix: "the answer from Okta was cut off: run again"}
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < r.cfg.Max429 {
			wait, ok := idp.RetryAfter(resp.Header, r.cfg.Clock())
			if !ok {
				wait = time.Second
			}
			if err := r.wait(ctx, op, wait); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && r.key != nil {
			r.forgetToken() // an access token revoked early: get a new one once
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, r.statusError(op, resp.StatusCode)
		}
		if err := json.Unmarshal(body, out); err != nil {
			return nil, &idp.Error{Kind: idp.Okta, Op: op, Status: resp.StatusCode, Err: err,
				Fix: "Okta's answer is not the expected JSON: check the org URL points at Okta"}
		}
		if err := r.pace(ctx, op, resp.Header); err != nil {
			return nil, err
		}
		return resp.Header, nil
	}
}

// pace waits for the rate-limit window to reset when the org's remaining
// budget for the endpoint falls to the reserve (X-Rate-Limit-Remaining of
// X-Rate-Limit-Limit, https://developer.okta.com/docs/reference/rl-best-practices/).
func (r *Reader) pace(ctx context.Context, op string, h http.Header) error {
	limit, err1 := strconv.Atoi(h.Get("X-Rate-Limit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	if err1 != nil || err2 != nil || limit <= 0 || float64(remaining) > r.cfg.Reserve*float64(limit) {
		return nil
	}
	reset, err := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err != nil {
		return nil
	}
	return r.wait(ctx, op, max(time.Unix(reset, 0).Sub(r.cfg.Clock()), 0))
}

func (r *Reader) wait(ctx context.Context, op string, d time.Duration) error {
	if d > r.cfg.MaxWait {
		return &idp.Error{Kind: idp.Okta, Op: op, Status: http.StatusTooManyRequests,
			Fix: fmt.Sprintf("Okta's rate limit resets in %s, longer than %s: run again later", d.Round(time.Second), r.cfg.MaxWait)}
	}
	if err := r.cfg.Sleep(ctx, d); err != nil {
		return &idp.Error{Kind: idp.Okta, Op: op, Err: err, Fix: "the run was cancelled while waiting for Okta's rate limit"}
	}
	return nil
}

func (r *Reader) statusError(op string, status int) error {
	e := &idp.Error{Kind: idp.Okta, Op: op, Status: status}
	switch {
	case status == http.StatusUnauthorized:
		e.Fix = "Okta refused the credentials: set the link again with a valid API token or service app key"
	case status == http.StatusForbidden:
		e.Fix = "Okta denied access: grant the service app the scopes " + Scopes + " and the Read-only Administrator role"
	case status == http.StatusNotFound && strings.HasPrefix(op, "list app users"):
		e.Fix = fmt.Sprintf("Okta has no app %q in this org: check --okta-app-id", r.cfg.AppID)
	case status == http.StatusNotFound:
		e.Fix = "Okta no longer has the group: a push mapping changed during the run, run again"
	case status == http.StatusTooManyRequests:
		e.Fix = "Okta's rate limit stayed exhausted: run again later or raise the app's rate-limit share"
	case status >= 500:
		e.Fix = "Okta failed: run again later (status.okta.com)"
	default:
		e.Fix = "Okta refused the request: check the link's org URL and app id"
	}
	return e
}

// redact drops the URL from a transport error: it is ours and adds nothing,
// and keeps query cursors out of logs.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// authorization is the Authorization header: SSWS with an API token
// (https://developer.okta.com/docs/guides/create-an-api-token/), or Bearer
// with the service app's access token.
func (r *Reader) authorization(ctx context.Context, snap *idp.Snapshot) (string, error) {
	if r.key == nil {
		return "SSWS " + r.cfg.APIToken, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Clock()
	if r.token != "" && now.Before(r.tokenExp) {
		return "Bearer " + r.token, nil
	}
	tok, exp, err := r.requestToken(ctx, snap, now)
	if err != nil {
		return "", err
	}
	r.token, r.tokenExp = tok, exp
	return "Bearer " + tok, nil
}

func (r *Reader) forgetToken() {
	r.mu.Lock()
	r.token = ""
	r.mu.Unlock()
}

// requestToken is the client credentials grant with private_key_jwt
// (RFC 7523 §2.2; https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/):
// a client assertion signed RS256 with iss = sub = client id and
// aud = the org's token endpoint, valid 5 minutes.
func (r *Reader) requestToken(ctx context.Context, snap *idp.Snapshot, now time.Time) (string, time.Time, error) {
	const op = "get access token"
	endpoint := r.cfg.OrgURL + "/oauth2/v1/token"
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w", op, err)
	}
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer: r.cfg.ClientID, Subject: r.cfg.ClientID, Audience: jwt.ClaimStrings{endpoint},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		ID: fmt.Sprintf("%x", jti),
	}).SignedString(r.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: sign client assertion: %w", op, err)
	}
	form := url.Values{
		"grant_type": {"client_credentials"}, "scope": {Scopes},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, &idp.Error{Kind: idp.Okta, Op: op, Err: err, Fix: "check the org URL of the link"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	snap.Requests++
	resp, err := r.cfg.HTTP.Do(req)
	if err != nil {
		return "", time.Time{}, &idp.Error{Kind: idp.Okta, Op: op, Err: redact(err),
			Fix: "cannot reach the Okta org: check the org URL and the network"}
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
	if resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		e := &idp.Error{Kind: idp.Okta, Op: op, Status: resp.StatusCode}
		switch {
		case resp.StatusCode >= 500:
			e.Fix = "Okta failed: run again later (status.okta.com)"
		case out.Error == "invalid_scope":
			e.Fix = "grant the service app the scopes " + Scopes
		default:
			e.Fix = "Okta refused the service app: check --okta-client-id and that its public key matches the private key"
		}
		return "", time.Time{}, e
	}
	lifetime := time.Duration(out.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = time.Hour
	}
	// Renew a minute early, so a token never expires during a page.
	return out.AccessToken, now.Add(lifetime - time.Minute), nil
}

// RequestBudget is how many requests a run reads with, given the app's
// assigned users (of every status), its push mappings and the member counts
// of the groups ACTIVE mappings push: a page of 500 app users, a page of
// 1,000 mappings, and per pushed group one GET and a page per 1,000
// members; plus one token request per hour with a service app. 429s add a
// retry each. docs/reconcile.md states it against Okta's rate limits.
func RequestBudget(users, mappings int, pushedMembers []int, serviceApp bool) int {
	pages := func(n, size int) int { return max(1, (n+size-1)/size) }
	n := pages(users, appUsersLimit) + pages(mappings, mappingsLimit)
	for _, m := range pushedMembers {
		n += 1 + pages(m, groupUsersLimit)
	}
	if serviceApp {
		n++
	}
	return n
}

// Package httpapi serves the SCIM 2.0 protocol over net/http. It is the only
// place where scim.Error codes become HTTP statuses, and the only place that
// authenticates requests, so the local server and every Lambda function
// behave identically.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

// MaxBodyBytes bounds request bodies (scim.MaxRequestBodyBytes, in the one
// table of limits); API Gateway itself stops at 10 MB.
const MaxBodyBytes = scim.MaxRequestBodyBytes

// ContentType is the media type of every SCIM response (RFC 7644 §3.1).
const ContentType = "application/scim+json"

// RequestIDHeader carries the id under which a request is logged.
const RequestIDHeader = "X-Request-Id"

// Config wires a Handler.
type Config struct {
	Service *scim.Service
	Tokens  auth.TokenStore
	Logger  *slog.Logger
	// Resources limits the routes served; nil serves all. Anything else under
	// BasePath gets a SCIM 404.
	Resources []Resource
	// DedicatedTenant, when set, refuses every other tenant with a 404, for
	// stacks deployed for one tenant.
	DedicatedTenant string
	// NewRequestID returns request ids; the default is 128 random bits in hex.
	NewRequestID func() string
	// Now is the clock used for latency; defaults to time.Now.
	Now func() time.Time

	// RoutePrefix replaces BasePath in front of every route and in the base
	// URL of meta.location, for a view of the SCIM API mounted elsewhere (the
	// admin API's /admin/v1/connections/{tenant}/{sso}/Users). "" is BasePath.
	RoutePrefix string
	// ReadOnly serves only the GET routes: a view that can never change data.
	ReadOnly bool
	// Authenticate replaces the bearer-token check against Tokens; it must
	// return an EUnauthorized *scim.Error to refuse the request.
	Authenticate func(r *http.Request, conn scim.Connection) error
	// Admit, when set, is asked after authentication whether the
	// connection may make this request now (a rate limit); its error is
	// the answer, typically 429 with Retry-After.
	Admit func(ctx context.Context, conn scim.Connection) error
	// Observer, when set, sees every request (metrics).
	Observer Observer
	// RequestTimeout is every request's deadline (DefaultRequestTimeout
	// when zero). Work still running when it passes writes nothing more and
	// is answered 503 with Retry-After. A deadline already on the request's
	// context (a Lambda invocation's) applies if it is earlier.
	RequestTimeout time.Duration
}

// Observer is told of each request: StartRequest before anything else (the
// context it returns is the request's), EndRequest once the response is
// written, with what the access log reports. route is the matched pattern
// ("GET /{tenant}/{sso}/Users") or "unmatched"; conn is empty when the path
// named none.
type Observer interface {
	StartRequest(ctx context.Context) context.Context
	EndRequest(ctx context.Context, route string, status int, latency time.Duration, conn scim.Connection)
}

// DefaultRequestTimeout is below API Gateway's 30 s integration timeout
// and the functions' 29 s, so that a request ends with an answer of ours.
const DefaultRequestTimeout = 30 * time.Second

// Handler serves SCIM requests.
type Handler struct {
	cfg Config
	mux *http.ServeMux
	// rateLimited samples the 429 lines of the access log (logsample.go).
	rateLimited rateLimitedSampler
}

// New returns the SCIM handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if cfg.NewRequestID == nil {
		cfg.NewRequestID = randomRequestID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RoutePrefix == "" {
		cfg.RoutePrefix = BasePath
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	for _, rt := range Routes() {
		if cfg.Resources != nil && !slices.Contains(cfg.Resources, rt.Resource) {
			continue
		}
		if cfg.ReadOnly && rt.Method != "GET" {
			continue
		}
		h.mux.Handle(rt.Method+" "+cfg.RoutePrefix+rt.Pattern, h.endpoint(rt))
	}
	return h
}

func randomRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// requestLog collects what the access log line reports.
type requestLog struct {
	start      time.Time // when the request arrived: the time its token is checked at
	conn       scim.Connection
	tokenID    string // public id of the token that authenticated it
	route      string
	resourceID string
	err        error
	// For OutcomeOf.
	requestID, userAgent string
	authenticated        bool
}

type logKey struct{}

func logOf(ctx context.Context) *requestLog {
	if l, ok := ctx.Value(logKey{}).(*requestLog); ok {
		return l
	}
	return &requestLog{}
}

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP logs every request as one JSON line: never the token, the body or a password.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	id := h.cfg.NewRequestID()
	w.Header().Set(RequestIDHeader, id)
	rl := &requestLog{start: start, requestID: id, userAgent: r.UserAgent()}
	rec := &statusRecorder{ResponseWriter: w}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, logKey{}, rl)
	if h.cfg.Observer != nil {
		ctx = h.cfg.Observer.StartRequest(ctx)
	}
	r = withoutTrailingSlash(r.WithContext(ctx))
	defer func() {
		if p := recover(); p != nil {
			rl.err = fmt.Errorf("panic: %v", p)
			if rec.status == 0 {
				writeError(rec, rl.err)
			}
		}
		latency := h.cfg.Now().Sub(start)
		attrs := []slog.Attr{
			slog.String("request_id", id),
		}
		if cid, ok := clientRequestID(r.Header.Get(RequestIDHeader)); ok {
			attrs = append(attrs, slog.String("client_request_id", cid))
		}
		attrs = append(attrs,
			slog.String("tenant", rl.conn.Tenant),
			slog.String("sso", rl.conn.SSO),
			slog.String("token_id", rl.tokenID),
			slog.String("method", r.Method),
			slog.String("route", rl.route),
			slog.String("resource_id", rl.resourceID),
			slog.Int("status", rec.status),
			slog.Float64("latency_ms", float64(latency.Microseconds())/1000),
		)
		level := slog.LevelInfo
		if rl.err != nil {
			code := scim.ErrorCodeOf(rl.err)
			attrs = append(attrs, slog.String("error_code", string(code)))
			switch code {
			case scim.EInternal:
				level = slog.LevelError
				attrs = append(attrs, slog.String("error", rl.err.Error()))
			case scim.EUnavailable:
				// The cause (which throttling, which timeout) is what the operator needs.
				level = slog.LevelWarn
				attrs = append(attrs, slog.String("error", rl.err.Error()))
			default:
				// Never the client-facing detail itself: it quotes what the
				// client sent (userNames, emails, whole filters), and the
				// log promises no personal data beyond ids.
				attrs = append(attrs, slog.String("error", scim.LogDetailOf(rl.err)))
			}
		}
		if h.logLine(rl, rec.status, &attrs) {
			h.cfg.Logger.LogAttrs(r.Context(), level, "request", attrs...)
		}
		if h.cfg.Observer != nil {
			h.cfg.Observer.EndRequest(r.Context(), rl.route, rec.status, latency, rl.conn)
		}
	}()
	if _, pattern := h.mux.Handler(r); pattern == "" {
		rl.route = "unmatched"
		allowed := h.allowedMethods(r)
		if len(allowed) > 0 {
			// RFC 9110 §15.5.6: a 405 names the methods the resource supports.
			rec.Header().Set("Allow", strings.Join(allowed, ", "))
			rl.err = scim.Errorf(scim.EMethodNotAllowed, "%s is not supported on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))
		} else if right, ok := endpointSpelling(r.URL.Path); ok {
			rl.err = scim.Errorf(scim.ENotFound, "no SCIM endpoint at %s: endpoint names are case-sensitive; use %s", r.URL.Path, right)
		} else {
			rl.err = scim.Errorf(scim.ENotFound, "no SCIM endpoint at %s; the base URL looks like https://HOST%s/{tenant}/{sso} followed by /Users, /Groups or a discovery endpoint", r.URL.Path, BasePath)
		}
		writeError(rec, rl.err)
		return
	}
	h.mux.ServeHTTP(rec, r)
}

// withoutTrailingSlash serves /Users/ as /Users (and so for every route):
// clients that join a base URL and a path send /Users/?filter=..., and a
// trailing slash names no other SCIM resource. On AWS, API Gateway already
// routes /Users/ to the /Users route, with the slash still in rawPath, so
// the functions need this as much as the local server.
func withoutTrailingSlash(r *http.Request) *http.Request {
	p := r.URL.Path
	if !strings.HasPrefix(p, BasePath+"/") || !strings.HasSuffix(p, "/") {
		return r
	}
	trimmed := strings.TrimRight(p, "/")
	if len(trimmed) <= len(BasePath) {
		return r
	}
	u := *r.URL
	u.Path = trimmed
	if u.RawPath != "" {
		u.RawPath = strings.TrimRight(u.RawPath, "/")
	}
	r.URL = &u // r is already the handler's own shallow copy
	return r
}

// endpointNames are the endpoint segments RFC 7644 §3.2 defines, as spelt.
var endpointNames = []string{"Users", "Groups", "ServiceProviderConfig", "Schemas", "ResourceTypes", "Bulk", ".search"}

// endpointSpelling returns path with its endpoint names spelt as RFC 7644
// §3.2 spells them, when that differs from path: /users becomes /Users.
// They are not routed in another case, because API Gateway routes are
// case-sensitive and would send /users to no function that serves users;
// the 404 names the right spelling instead, locally and on AWS alike.
func endpointSpelling(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, BasePath+"/")
	if !ok {
		return "", false
	}
	segments := strings.Split(rest, "/")
	if len(segments) < 3 {
		return "", false
	}
	changed := false
	// The endpoint itself, and the .search under it (/Users/.search).
	for i := 2; i < len(segments) && i < 4; i++ {
		for _, name := range endpointNames {
			if (i == 2 || name == ".search") && segments[i] != name && strings.EqualFold(segments[i], name) {
				segments[i], changed = name, true
			}
		}
	}
	if !changed {
		return "", false
	}
	return BasePath + "/" + strings.Join(segments, "/"), true
}

// MaxClientRequestIDLength bounds the caller's X-Request-Id that is logged.
const MaxClientRequestIDLength = 128

// clientRequestID returns the caller's own X-Request-Id when it is
// well-formed: 1 to MaxClientRequestIDLength visible ASCII characters, as
// the UUIDs and tokens clients send are. It is logged as client_request_id
// beside the server's request_id, so a request can be found from either
// side; anything else is dropped rather than logged, so that a caller
// cannot fill the log.
func clientRequestID(v string) (string, bool) {
	if v == "" || len(v) > MaxClientRequestIDLength {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '!' || v[i] > '~' {
			return "", false
		}
	}
	return v, true
}

// allowedMethods lists the methods the request's path is served with; none
// means the path is unknown (404) rather than the method wrong (405).
// logLine decides whether a request's access-log line is written: every
// one, except a connection's 429s beyond the first of each
// RateLimitedLogInterval. A written line carries the count of those left out
// since the last (rate_limited_not_logged), when there were any.
func (h *Handler) logLine(rl *requestLog, status int, attrs *[]slog.Attr) bool {
	if rl.conn == (scim.Connection{}) {
		return true
	}
	var notLogged int
	if status == http.StatusTooManyRequests {
		var write bool
		if write, notLogged = h.rateLimited.rateLimited(rl.conn, h.cfg.Now()); !write {
			return false
		}
	} else {
		notLogged = h.rateLimited.served(rl.conn)
	}
	if notLogged > 0 {
		*attrs = append(*attrs, slog.Int("rate_limited_not_logged", notLogged))
	}
	return true
}

func (h *Handler) allowedMethods(r *http.Request) []string {
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// endpoint wraps a route with connection resolution and authentication.
func (h *Handler) endpoint(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl := logOf(r.Context())
		rl.route = rt.Method + " " + rt.Pattern
		rl.resourceID = scim.LogID(r.PathValue("id"))
		conn := scim.Connection{Tenant: r.PathValue("tenant"), SSO: r.PathValue("sso")}
		if conn.Validate() != nil || (h.cfg.DedicatedTenant != "" && conn.Tenant != h.cfg.DedicatedTenant) {
			// The same answer as for an unknown path: do not reveal which tenants exist.
			rl.err = scim.Errorf(scim.ENotFound, "no SCIM endpoint at %s", r.URL.Path)
			writeError(w, rl.err)
			return
		}
		rl.conn = conn
		policy, err := h.authenticate(r, conn, rl)
		if err != nil {
			rl.err = err
			if scim.ErrorCodeOf(err) == scim.EUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="scimgate"`)
			}
			writeError(w, err)
			return
		}
		rl.authenticated = true
		if h.cfg.Admit != nil {
			if err := h.cfg.Admit(r.Context(), conn); err != nil {
				rl.err = err
				writeError(w, err)
				return
			}
		}
		// Every change record this request causes names it and its token (docs/events.md).
		origin := changes.Origin{RequestID: w.Header().Get(RequestIDHeader)}
		if rl.tokenID != "" {
			origin.Actor = changes.TokenActor(rl.tokenID)
		}
		r = r.WithContext(scim.WithExtensionPolicy(changes.WithOrigin(r.Context(), origin), policy))
		req := &request{h: h, w: w, r: r, conn: conn, base: baseURL(r, h.cfg.RoutePrefix, conn)}
		if err := h.dispatch(rt, req); err != nil {
			rl.err = outOfTime(err)
			writeError(w, rl.err)
		}
	})
}

// authenticate checks the request's credentials for conn: Config.Authenticate
// when set, else the bearer token against Tokens, recording its use.
//
// Only one Authorization header is judged (RFC 9110 §11.6.2 defines a single
// credentials value): with several, which one counts would depend on the
// proxy in front, so none does.
//
// It returns the connection's policy for undeclared schema extensions,
// read with the token (no extra store read); "" (store) with a custom
// Config.Authenticate.
func (h *Handler) authenticate(r *http.Request, conn scim.Connection, rl *requestLog) (scim.ExtensionPolicy, error) {
	if values := r.Header.Values("Authorization"); len(values) > 1 {
		return "", scim.Errorf(scim.EUnauthorized, "the request carries %d Authorization headers; send exactly one", len(values))
	}
	if h.cfg.Authenticate != nil {
		return "", h.cfg.Authenticate(r, conn)
	}
	tok, rec, err := auth.AuthenticateConnection(r.Context(), h.cfg.Tokens, r.Header.Get("Authorization"), conn, rl.start)
	if err != nil {
		return "", err
	}
	rl.tokenID = tok.ID
	// A lagging last-used time must never fail a provisioning request.
	if err := auth.RecordUse(r.Context(), h.cfg.Tokens, tok, rl.start); err != nil {
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "record token use", slog.String("token_id", tok.ID), slog.String("error", err.Error()))
	}
	return rec.UnknownExtensions, nil
}

// outOfTime turns an unclassified error caused by the request's deadline
// (on Lambda the function's, a second before API Gateway's 30 s) into a 503
// with Retry-After: the IdP retries instead of failing the operation, and
// gets a SCIM body rather than API Gateway's bare 503. Nothing is half-applied
// but chunked member changes, whose retry converges (docs/design.md).
func outOfTime(err error) error {
	if scim.ErrorCodeOf(err) != scim.EInternal || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &scim.Error{Code: scim.EUnavailable, Err: err,
		Detail: "The request ran out of time; retry after the number of seconds in Retry-After."}
}

// request bundles what a handler needs.
type request struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	conn scim.Connection
	base string
}

func (h *Handler) dispatch(rt Route, q *request) error {
	switch rt.Resource {
	case DiscoveryResource:
		return q.discovery(rt)
	case UsersResource:
		return q.resource(rt, scim.UserResource)
	case GroupsResource:
		return q.resource(rt, scim.GroupResource)
	case BulkResource:
		if strings.HasSuffix(rt.Pattern, "/.search") {
			return q.search(nil)
		}
		return q.bulk()
	}
	return scim.Errorf(scim.ENotFound, "no SCIM endpoint at %s", q.r.URL.Path)
}

// baseURL is the connection's SCIM base URL as the client reached it, for
// meta.location and Location headers. Behind API Gateway or a load
// balancer, X-Forwarded-Proto tells the scheme the client used.
func baseURL(r *http.Request, prefix string, conn scim.Connection) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host + prefix + "/" + conn.Tenant + "/" + conn.SSO
}

func (q *request) resource(rt Route, typ scim.ResourceType) error {
	id := q.r.PathValue("id")
	svc := q.h.cfg.Service
	switch {
	case rt.Method == "POST" && strings.HasSuffix(rt.Pattern, "/.search"):
		return q.search(&typ)
	case rt.Method == "GET" && id == "":
		p, err := q.queryListParams()
		if err != nil {
			return err
		}
		return q.list(&typ, p)
	case rt.Method == "GET":
		proj, err := q.projection(typ)
		if err != nil {
			return err
		}
		res, err := svc.Get(q.r.Context(), q.conn, typ, id, proj.Wants("members"))
		if err != nil {
			return err
		}
		for _, tag := range etagList(q.r.Header.Values("If-None-Match")) {
			if v, ok := scim.ParseETag(tag); tag == "*" || (ok && v == res.Version) {
				q.w.Header().Set("ETag", scim.ETag(res.Version))
				q.w.WriteHeader(http.StatusNotModified)
				return nil
			}
		}
		return q.writeResource(http.StatusOK, res, proj)
	case rt.Method == "POST":
		body, err := q.body()
		if err != nil {
			return err
		}
		out, err := svc.Create(q.r.Context(), q.conn, typ, body)
		if err != nil {
			return err
		}
		logOf(q.r.Context()).resourceID = out.Resource.ID
		q.w.Header().Set("Location", q.location(out.Resource))
		return q.writeResource(http.StatusCreated, out.Resource, scim.Projection{})
	case rt.Method == "PUT" || rt.Method == "PATCH":
		body, err := q.body()
		if err != nil {
			return err
		}
		pre, err := q.precondition()
		if err != nil {
			return err
		}
		update := svc.Replace
		if rt.Method == "PATCH" {
			update = svc.Patch
		}
		res, err := update(q.r.Context(), q.conn, typ, id, body, pre)
		if err != nil {
			return err
		}
		if rt.Method == "PUT" {
			return q.writeResource(http.StatusOK, res, scim.Projection{})
		}
		if typ == scim.GroupResource {
			// A group PATCH reads only the group item, not its possibly huge
			// member list, so it answers 204 (RFC 7644 §3.5.2 allows it; Okta
			// and Entra accept it) instead of a body with partial members.
			if res.Version > 0 { // 0: committed, but the new version could not be read back
				q.w.Header().Set("ETag", scim.ETag(res.Version))
			}
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return q.writeResource(http.StatusOK, res, scim.Projection{})
	case rt.Method == "DELETE":
		pre, err := q.precondition()
		if err != nil {
			return err
		}
		if err := svc.Delete(q.r.Context(), q.conn, typ, id, pre); err != nil {
			return err
		}
		q.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return scim.Errorf(scim.EMethodNotAllowed, "%s is not supported on %s", q.r.Method, q.r.URL.Path)
}

// listParams are a list request's parameters, from the query string
// (GET) or a SearchRequest body (POST .search, RFC 7644 §3.4.3).
type listParams struct {
	filter, attributes, excluded, sortBy, sortOrder string
	startIndex, count                               int
	hasStartIndex                                   bool
	cursor                                          *string
}

func (q *request) queryListParams() (listParams, error) {
	v := q.r.URL.Query()
	p := listParams{
		filter: strings.TrimSpace(v.Get("filter")), attributes: v.Get("attributes"), excluded: v.Get("excludedAttributes"),
		sortBy: v.Get("sortBy"), sortOrder: v.Get("sortOrder"), hasStartIndex: v.Has("startIndex"),
	}
	var err error
	if p.startIndex, err = intParam(v.Get("startIndex"), "startIndex", 1); err != nil {
		return p, err
	}
	if p.count, err = intParam(v.Get("count"), "count", -1); err != nil {
		return p, err
	}
	if v.Get("count") != "" && p.count < 0 {
		p.count = 0 // RFC 7644 §3.4.2.4: a negative count is interpreted as 0
	}
	if v.Has("cursor") {
		c := v.Get("cursor")
		p.cursor = &c
	}
	return p, nil
}

// searchRequest is the body of POST .search.
type searchRequest struct {
	Schemas            []string `json:"schemas"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	Filter             string   `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
	Cursor             *string  `json:"cursor"`
}

func (q *request) search(typ *scim.ResourceType) error {
	body, err := q.body()
	if err != nil {
		return err
	}
	if err := scim.CheckJSON(body); err != nil {
		return err
	}
	var sr searchRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&sr); err != nil {
		return scim.Errorf(scim.EInvalidSyntax, "the search request is not a valid SearchRequest (RFC 7644 §3.4.3): %v", err)
	}
	if err := scim.CheckMessageSchemas(sr.Schemas, scim.SearchRequestSchema, "SearchRequest"); err != nil {
		return err
	}
	p := listParams{
		filter: strings.TrimSpace(sr.Filter), attributes: strings.Join(sr.Attributes, ","), excluded: strings.Join(sr.ExcludedAttributes, ","),
		sortBy: sr.SortBy, sortOrder: sr.SortOrder, startIndex: 1, count: -1, cursor: sr.Cursor,
	}
	if sr.StartIndex != nil {
		p.startIndex, p.hasStartIndex = *sr.StartIndex, true
	}
	if sr.Count != nil {
		p.count = max(*sr.Count, 0)
	}
	return q.list(typ, p)
}

// list answers a ListResponse; typ nil searches both resource types.
func (q *request) list(typ *scim.ResourceType, p listParams) error {
	svc := q.h.cfg.Service
	if p.cursor != nil && p.hasStartIndex {
		return scim.Errorf(scim.EInvalidValue, "use either startIndex (index pagination) or cursor (cursor pagination, RFC 9865), not both")
	}
	descending := false
	switch strings.ToLower(p.sortOrder) {
	case "", "ascending":
	case "descending":
		descending = true
	default:
		return scim.Errorf(scim.EInvalidValue, `sortOrder must be "ascending" or "descending"; got %q`, p.sortOrder)
	}
	query := scim.ListQuery{
		Filter: p.filter, StartIndex: p.startIndex, Count: p.count, Cursor: p.cursor,
		SortBy: p.sortBy, SortDescending: descending, BaseURL: q.base,
	}
	projections := map[scim.ResourceType]scim.Projection{}
	for _, t := range []scim.ResourceType{scim.UserResource, scim.GroupResource} {
		if typ != nil && *typ != t {
			continue
		}
		proj, err := svc.ParseProjection(q.r.Context(), t, p.attributes, p.excluded)
		if err != nil && typ != nil {
			return err
		}
		projections[t] = proj
	}
	var page *scim.ListPage
	var err error
	if typ == nil {
		query.WithMembers = projections[scim.GroupResource].Wants("members")
		page, err = svc.SearchAll(q.r.Context(), q.conn, query)
	} else {
		query.WithMembers = *typ == scim.GroupResource && projections[*typ].Wants("members")
		page, err = svc.List(q.r.Context(), q.conn, *typ, query)
	}
	if err != nil {
		return err
	}
	resources := make([]any, 0, len(page.Resources))
	for _, res := range page.Resources {
		resources = append(resources, svc.Apply(q.r.Context(), res.Type, svc.Document(q.r.Context(), res, q.base), projections[res.Type]))
	}
	out := map[string]any{
		"schemas":      []any{scim.ListResponseSchema},
		"totalResults": page.TotalResults,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}
	if p.cursor == nil {
		out["startIndex"] = page.StartIndex
	} else if page.NextCursor != "" {
		out["nextCursor"] = page.NextCursor
	}
	return writeJSON(q.w, http.StatusOK, out)
}

func intParam(raw, name string, def int) (int, error) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil {
		return 0, scim.Errorf(scim.EInvalidValue, "%s must be an integer; got %q", name, raw)
	}
	return n, nil
}

func (q *request) projection(typ scim.ResourceType) (scim.Projection, error) {
	params := q.r.URL.Query()
	return q.h.cfg.Service.ParseProjection(q.r.Context(), typ, params.Get("attributes"), params.Get("excludedAttributes"))
}

// precondition reads If-Match: "*" or absent means none; otherwise a list
// of ETags, of which the resource's must be one (RFC 9110 §13.1.1). Several
// If-Match headers are one list, as API Gateway's comma-joining makes them.
func (q *request) precondition() (scim.Precondition, error) {
	var pre scim.Precondition
	for _, tag := range etagList(q.r.Header.Values("If-Match")) {
		if tag == "*" {
			return scim.Precondition{}, nil
		}
		v, ok := scim.ParseETag(tag)
		if !ok {
			return scim.Precondition{}, scim.Errorf(scim.EPreconditionFailed, "If-Match %q is not an ETag this server issued", tag)
		}
		pre.Versions = append(pre.Versions, v)
	}
	return pre, nil
}

// etagList splits header values into entity tags. ETags are W/"n" here, so
// a comma never occurs inside one.
func etagList(values []string) []string {
	var tags []string
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				tags = append(tags, tag)
			}
		}
	}
	return tags
}

// body reads a JSON request body, refusing other media types and oversize bodies.
func (q *request) body() ([]byte, error) {
	if ct := q.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/scim+json" && mt != "application/json") {
			return nil, scim.Errorf(scim.EUnsupportedMedia, "Content-Type %q is not supported; send application/scim+json or application/json", ct)
		}
	}
	b, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, scim.Errorf(scim.ETooLarge, "request body exceeds %d bytes; split the change into several requests", MaxBodyBytes)
	}
	if err != nil {
		return nil, scim.Errorf(scim.EInvalidSyntax, "could not read the request body")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, scim.Errorf(scim.EInvalidSyntax, "the request needs a JSON body")
	}
	return b, nil
}

func (q *request) location(res *scim.Resource) string {
	if res.Type == scim.GroupResource {
		return q.base + "/Groups/" + res.ID
	}
	return q.base + "/Users/" + res.ID
}

func (q *request) writeResource(status int, res *scim.Resource, proj scim.Projection) error {
	svc := q.h.cfg.Service
	doc := svc.Apply(q.r.Context(), res.Type, svc.Document(q.r.Context(), res, q.base), proj)
	q.w.Header().Set("ETag", scim.ETag(res.Version))
	return writeJSON(q.w, status, doc)
}

func (q *request) discovery(rt Route) error {
	svc := q.h.cfg.Service
	id := q.r.PathValue("id")
	switch {
	case strings.HasSuffix(rt.Pattern, "/ServiceProviderConfig"):
		return writeJSON(q.w, http.StatusOK, svc.ServiceProviderConfig(q.base))
	case strings.Contains(rt.Pattern, "/ResourceTypes"):
		return writeDiscoveryList(q.w, svc.ResourceTypes(q.r.Context(), q.base), id, "resource type")
	default:
		return writeDiscoveryList(q.w, svc.SchemaDocuments(q.r.Context(), q.base), id, "schema")
	}
}

func writeDiscoveryList(w http.ResponseWriter, docs []map[string]any, id, what string) error {
	if id != "" {
		for _, d := range docs {
			if d["id"] == id {
				return writeJSON(w, http.StatusOK, d)
			}
		}
		return scim.Errorf(scim.ENotFound, "%s %q not found", what, id)
	}
	resources := make([]any, len(docs))
	for i, d := range docs {
		resources[i] = d
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []any{scim.ListResponseSchema},
		"totalResults": len(docs),
		"startIndex":   1,
		"itemsPerPage": len(docs),
		"Resources":    resources,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// statusOf is the one mapping from error codes to HTTP status and scimType (RFC 7644 §3.12).
func statusOf(code scim.ErrorCode) (int, string) {
	switch code {
	case scim.ENotFound:
		return http.StatusNotFound, ""
	case scim.EUniqueness:
		return http.StatusConflict, "uniqueness"
	case scim.EConflict:
		return http.StatusConflict, ""
	case scim.EPreconditionFailed:
		return http.StatusPreconditionFailed, ""
	case scim.EInvalidValue:
		return http.StatusBadRequest, "invalidValue"
	case scim.EInvalidSyntax:
		return http.StatusBadRequest, "invalidSyntax"
	case scim.EInvalidFilter:
		return http.StatusBadRequest, "invalidFilter"
	case scim.EInvalidPath:
		return http.StatusBadRequest, "invalidPath"
	case scim.ENoTarget:
		return http.StatusBadRequest, "noTarget"
	case scim.EMutability:
		return http.StatusBadRequest, "mutability"
	case scim.ETooMany:
		return http.StatusBadRequest, "tooMany"
	case scim.EInvalidCursor:
		return http.StatusBadRequest, "invalidCursor"
	case scim.EUnauthorized:
		return http.StatusUnauthorized, ""
	case scim.EForbidden:
		return http.StatusForbidden, ""
	case scim.ENotImplemented:
		return http.StatusNotImplemented, ""
	case scim.ETooLarge:
		return http.StatusRequestEntityTooLarge, ""
	case scim.EUnsupportedMedia:
		return http.StatusUnsupportedMediaType, ""
	case scim.EMethodNotAllowed:
		return http.StatusMethodNotAllowed, ""
	case scim.ETooManyRequests:
		return http.StatusTooManyRequests, ""
	case scim.EUnavailable:
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

// errorBody is the SCIM error message for err (RFC 7644 §3.12) and its
// status. Internal errors get a generic detail; their cause is in the access
// log line.
func errorBody(err error) (int, map[string]any) {
	status, scimType := statusOf(scim.ErrorCodeOf(err))
	body := map[string]any{
		"schemas": []any{scim.ErrorSchema},
		"status":  strconv.Itoa(status),
		"detail":  scim.ErrorDetailOf(err),
	}
	if scimType != "" {
		body["scimType"] = scimType
	}
	return status, body
}

// writeError answers with the SCIM error message for err.
func writeError(w http.ResponseWriter, err error) {
	status, body := errorBody(err)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(err)))
	}
	_ = writeJSON(w, status, body)
}

// retryAfterSeconds is the wait a back-pressure answer asks for: what the
// error says, else 1 to 3 seconds, spread so that an IdP's parallel workers
// do not all come back at the same instant.
func retryAfterSeconds(err error) int {
	var ra scim.RetryAfter
	if errors.As(err, &ra) && ra.RetryAfterSeconds() > 0 {
		return ra.RetryAfterSeconds()
	}
	return 1 + mathrand.IntN(3)
}

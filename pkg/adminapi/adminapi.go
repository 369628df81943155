// Package adminapi serves the admin HTTP API under /admin/v1: what the
// platform's backend calls to manage connections and tokens (JSON, not
// SCIM), and the read-only SCIM views of a connection's users and groups.
//
// It is an adapter over admin.Service and knows nothing of SCIM rendering:
// the views are an http.Handler the wiring builds (pkg/httpapi, read-only,
// mounted at ViewsPrefix) and hands over in Config.Views. Who may call is
// decided by Config.Authorize: a constant-time bearer check of the admin
// token locally (BearerToken), the API Gateway IAM identity on AWS.
package adminapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/ratelimit"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/webhooks"
)

// maxBodyBytes bounds an admin request body: the largest is a few hundred bytes.
const maxBodyBytes = 64 << 10

// requestIDHeader carries the id under which a request is logged.
const requestIDHeader = "X-Request-Id"

// Authorizer decides whether a request comes from the platform. It returns
// the caller's identity for the log (an IAM ARN, "admin-token"), or an error
// to refuse the request with 401.
type Authorizer func(r *http.Request) (caller string, err error)

// Config wires a Handler.
type Config struct {
	Store auth.ConnectionStore
	// PublicURL is the scheme and host IdPs reach the SCIM API on
	// ("https://scim.example.com"). Empty: the scheme and host the admin
	// request arrived on, which is right when both APIs share a host.
	PublicURL string
	Authorize Authorizer
	// FailedAuth counts failed authorisations per client address and, once
	// an address has used its burst, answers it 429 (FailedAuthBurst); nil:
	// no limit (behind IAM on AWS, where API Gateway refuses first).
	FailedAuth *ratelimit.Keyed
	// Feed serves GET .../events (events.go); nil answers 404.
	Feed changes.Feed
	// Health serves GET .../health (health.go) from the buckets the SCIM
	// handlers flush; nil answers 404.
	Health HealthReader
	// Reconcile serves .../idp and .../reconcile (reconcile.go); nil answers 404.
	Reconcile Reconciler
	// Webhooks keeps the webhook endpoints (webhooks.go); nil answers 404.
	Webhooks webhooks.Store
	// Views serves the read-only SCIM views under ViewsPrefix; nil answers 404.
	Views http.Handler
	// DedicatedTenant, when set, confines the API to this tenant's
	// connections, as the SCIM API of a per-tenant stack is: other tenants'
	// connections do not exist for it.
	DedicatedTenant string
	Logger          *slog.Logger
	Clock           scim.Clock
	// NewRequestID returns request ids; the default is 128 random bits in hex.
	NewRequestID func() string
}

// Handler serves the admin API.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the admin handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.NewRequestID == nil {
		cfg.NewRequestID = randomRequestID
	}
	if cfg.Authorize == nil {
		cfg.Authorize = func(*http.Request) (string, error) { return "", errUnauthorized }
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	handlers := map[string]func(*call) error{
		"GET " + ViewsPrefix:                          (*call).listConnections,
		"POST " + ViewsPrefix:                         (*call).createConnection,
		"GET " + connPattern:                          (*call).getConnection,
		"PATCH " + connPattern:                        (*call).setState,
		"DELETE " + connPattern:                       (*call).deleteConnection,
		"GET " + connPattern + "/tokens":              (*call).listTokens,
		"POST " + connPattern + "/tokens":             (*call).createToken,
		"POST " + connPattern + "/tokens/{id}/rotate": (*call).rotateToken,
		"DELETE " + connPattern + "/tokens/{id}":      (*call).revokeToken,
		"GET " + EventsPattern:                        (*call).listEvents,
		"GET " + HealthPattern:                        (*call).getHealth,
		"PUT " + IdPPattern:                           (*call).setIdPLink,
		"GET " + IdPPattern:                           (*call).getIdPLink,
		"DELETE " + IdPPattern:                        (*call).clearIdPLink,
		"POST " + ReconcilePattern:                    (*call).reconcile,
		"GET " + ReconcilePattern:                     (*call).lastReconcile,
		"GET " + AllEventsPattern:                     (*call).listAllEvents,
		"GET " + connPattern + "/schemas":             (*call).getSchemas,
		"PUT " + connPattern + "/schemas":             (*call).putSchemas,
		"GET " + DefaultSchemasPattern:                (*call).getDefaultSchemas,
		"PUT " + DefaultSchemasPattern:                (*call).putDefaultSchemas,
	}
	for k, fn := range webhookHandlers() {
		handlers[k] = fn
	}
	for _, rt := range Routes() {
		key := rt.Method + " " + rt.Pattern
		if rt.View {
			h.mux.Handle(key, h.route(key, (*call).view))
			continue
		}
		fn, ok := handlers[key]
		if !ok {
			panic("adminapi: no handler for route " + key)
		}
		h.mux.Handle(key, h.route(key, fn))
	}
	return h
}

func randomRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// apiError is an admin API error: a stable machine-readable code, a message
// for a person, and for bad input the field at fault.
type apiError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// logMessage is Message with the values the client sent taken out, for
	// the access log (scim.Errorf's redaction); "" when Message has none.
	logMessage string
}

// logLine is what the access log says of the error: code and redacted message.
func (e *apiError) logLine() string {
	if e.logMessage != "" {
		return e.Code + ": " + e.logMessage
	}
	return e.Code + ": " + e.Message
}

// redacted is format with its arguments redacted as scim.Errorf redacts
// them for the log: ids and scimgate's own words stay, client values go.
func redacted(format string, args ...any) string {
	return scim.LogDetailOf(scim.Errorf(scim.EInvalidValue, format, args...))
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// The error codes of the admin API (docs/admin-api.md lists them).
const (
	CodeInvalidRequest   = "invalid_request"
	CodeTooManyRequests  = "too_many_requests"
	CodeUnauthorized     = "unauthorized"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeAlreadyExists    = "already_exists"
	CodeConflict         = "conflict"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeTooLarge         = "too_large"
	CodeUnavailable      = "unavailable"
	CodeIdPFailed        = "idp_failed" // the IdP's API refused or failed a reconcile run
	CodeInternal         = "internal"
)

var errUnauthorized = &apiError{status: http.StatusUnauthorized, Code: CodeUnauthorized,
	Message: "missing or invalid admin credentials"}

func invalid(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, Code: CodeInvalidRequest, Field: field, Message: fmt.Sprintf(format, args...),
		logMessage: redacted(format, args...)}
}

// errorOf maps any error to the admin error answered for it. Internal
// errors get a generic message; their cause goes to the log.
func errorOf(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	ae = errorOfSCIM(err)
	if ae.Code != CodeInternal && ae.Code != CodeUnauthorized {
		ae.logMessage = scim.LogDetailOf(err)
	}
	return ae
}

func errorOfSCIM(err error) *apiError {
	detail := scim.ErrorDetailOf(err)
	switch scim.ErrorCodeOf(err) {
	case scim.ENotFound:
		return &apiError{status: http.StatusNotFound, Code: CodeNotFound, Message: detail}
	case scim.EUniqueness:
		return &apiError{status: http.StatusConflict, Code: CodeAlreadyExists, Message: detail}
	case scim.EConflict, scim.EPreconditionFailed:
		return &apiError{status: http.StatusConflict, Code: CodeConflict, Message: detail}
	case scim.EInvalidValue, scim.EInvalidSyntax, scim.EInvalidFilter, scim.EInvalidPath, scim.ENoTarget,
		scim.EMutability, scim.ETooMany, scim.EInvalidCursor:
		return &apiError{status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: detail}
	case scim.EUnauthorized:
		return errUnauthorized
	case scim.ETooManyRequests, scim.EUnavailable:
		return &apiError{status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: detail}
	}
	return &apiError{status: http.StatusInternalServerError, Code: CodeInternal, Message: detail}
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

// accessLog is what one request's log line reports.
type accessLog struct {
	caller, route string
	conn          scim.Connection
	err           error
}

type logKey struct{}

// ServeHTTP authorises every request before routing it, so that a caller
// without credentials learns nothing, not even which paths exist; then logs
// one JSON line (never a body, a secret or a token).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Clock()
	id := h.cfg.NewRequestID()
	w.Header().Set(requestIDHeader, id)
	rec := &statusRecorder{ResponseWriter: w}
	al := &accessLog{route: "unmatched"}
	defer func() {
		if p := recover(); p != nil {
			al.err = fmt.Errorf("panic: %v", p)
			if rec.status == 0 {
				writeError(rec, al.err)
			}
		}
		attrs := []slog.Attr{
			slog.String("request_id", id), slog.String("api", "admin"), slog.String("caller", al.caller),
			slog.String("tenant", al.conn.Tenant), slog.String("sso", al.conn.SSO),
			slog.String("method", r.Method), slog.String("route", al.route), slog.Int("status", rec.status),
			slog.Float64("latency_ms", float64(h.cfg.Clock().Sub(start).Microseconds())/1000),
		}
		level := slog.LevelInfo
		if al.err != nil {
			if ae := errorOf(al.err); ae.Code == CodeInternal {
				level = slog.LevelError
				attrs = append(attrs, slog.String("error", al.err.Error()))
			} else {
				attrs = append(attrs, slog.String("error", ae.logLine()))
			}
		}
		h.cfg.Logger.LogAttrs(r.Context(), level, "admin request", attrs...)
	}()
	client := clientAddress(r)
	if h.cfg.FailedAuth != nil {
		if wait, blocked := h.cfg.FailedAuth.Blocked(client); blocked {
			al.err = errTooManyFailures
			rec.Header().Set("Retry-After", strconv.Itoa(wait))
			writeError(rec, errTooManyFailures)
			return
		}
	}
	caller, err := h.cfg.Authorize(r)
	if err != nil {
		if h.cfg.FailedAuth != nil {
			h.cfg.FailedAuth.Take(client)
		}
		al.err = errUnauthorized
		rec.Header().Set("WWW-Authenticate", `Bearer realm="scimgate-admin"`)
		writeError(rec, errUnauthorized)
		return
	}
	al.caller = caller
	// The change records of what this request changes name the caller and
	// the request id it is logged under (docs/events.md).
	ctx := changes.WithOrigin(r.Context(), changes.Origin{RequestID: id, Actor: changes.AdminActor(caller)})
	r = r.WithContext(context.WithValue(ctx, logKey{}, al))
	if _, pattern := h.mux.Handler(r); pattern == "" {
		if allowed := h.allowedMethods(r); len(allowed) > 0 {
			rec.Header().Set("Allow", strings.Join(allowed, ", "))
			al.err = &apiError{status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
				Message:    fmt.Sprintf("%s is not supported on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, ", ")),
				logMessage: redacted("%s is not supported on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))}
		} else {
			al.err = &apiError{status: http.StatusNotFound, Code: CodeNotFound,
				Message:    fmt.Sprintf("no admin route at %s; see docs/admin-api.md", r.URL.Path),
				logMessage: redacted("no admin route at %s; see docs/admin-api.md", r.URL.Path)}
		}
		writeError(rec, al.err)
		return
	}
	h.mux.ServeHTTP(rec, r)
}

// errTooManyFailures answers an address that sent too many wrong admin
// credentials; it says nothing about the credential it sent this time.
var errTooManyFailures = &apiError{status: http.StatusTooManyRequests, Code: CodeTooManyRequests,
	Message: "too many failed authentication attempts from this address; retry after the seconds in Retry-After"}

// clientAddress is the host of the peer: the key failed attempts are
// counted under. Behind a proxy every client shares the proxy's address.
func clientAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
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

// call is one admin request being served.
type call struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	svc  *admin.Service
	conn scim.Connection
}

// route wraps a handler: it resolves the connection of the path, builds
// the service with the public URL for this request, and answers errors.
func (h *Handler) route(key string, fn func(*call) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		al, _ := r.Context().Value(logKey{}).(*accessLog)
		if al == nil {
			al = &accessLog{}
		}
		al.route = key
		c := &call{h: h, w: w, r: r, svc: admin.New(admin.Config{Store: h.cfg.Store, PublicURL: h.publicURL(r), Clock: h.cfg.Clock})}
		if r.PathValue("tenant") != "" || r.PathValue("sso") != "" {
			conn, err := connectionOf(r.PathValue("tenant"), r.PathValue("sso"))
			if err == nil && h.cfg.DedicatedTenant != "" && conn.Tenant != h.cfg.DedicatedTenant {
				err = scim.Errorf(scim.ENotFound, "connection %s not found", conn)
			}
			if err != nil {
				al.err = err
				writeError(w, err)
				return
			}
			c.conn, al.conn = conn, conn
		}
		if err := fn(c); err != nil {
			al.err = err
			writeError(w, err)
		}
	})
}

// publicURL is the configured public URL, else the scheme and host the
// request arrived on (behind API Gateway, X-Forwarded-Proto says https).
func (h *Handler) publicURL(r *http.Request) string {
	if h.cfg.PublicURL != "" {
		return strings.TrimRight(h.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// connectionOf validates a connection's ids, naming the field at fault.
func connectionOf(tenant, sso string) (scim.Connection, error) {
	conn := scim.Connection{Tenant: tenant, SSO: sso}
	if tenant == "" {
		return conn, invalid("tenant", "tenant is required")
	}
	if sso == "" {
		return conn, invalid("sso", "sso is required")
	}
	// The rule, not the value: an invalid id is often an email or a name
	// pasted in the wrong place, which neither the answer nor the log repeats.
	if err := (scim.Connection{Tenant: tenant, SSO: "x"}).Validate(); err != nil {
		return conn, invalid("tenant", "the tenant id is invalid: use 1-63 lowercase letters, digits or hyphens")
	}
	if err := conn.Validate(); err != nil {
		return conn, invalid("sso", "the SSO connection id is invalid: use 1-63 lowercase letters, digits or hyphens")
	}
	return conn, nil
}

// decode reads a JSON object body into v; an absent body leaves v as it is
// when optional. Unknown fields are refused by name, so a typo is not
// silently ignored.
func (c *call) decode(v any, optional bool) error {
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &apiError{status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia,
				Message: fmt.Sprintf("Content-Type %q is not supported; send application/json", ct)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &apiError{status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf("the body exceeds %d bytes", maxBodyBytes)}
	}
	if err != nil {
		return invalid("", "could not read the request body")
	}
	if strings.TrimSpace(string(body)) == "" {
		if optional {
			return nil
		}
		return invalid("", "the request needs a JSON object body")
	}
	// SCIM's strict input rules (pkg/scim): valid UTF-8, and no object with
	// two keys equal case-insensitively, which encoding/json would resolve
	// silently, the last one winning.
	if err := scim.CheckJSON(body); err != nil {
		return invalid("", "%s", scim.ErrorDetailOf(err))
	}
	if err := exactFieldNames(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return invalid(typeErr.Field, "%s must be a %s", typeErr.Field, typeErr.Type.Kind())
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return invalid(field, "unknown field %q", field)
		}
		return invalid("", "the body is not a valid JSON object: %v", err)
	}
	if dec.More() {
		return invalid("", "the body must be one JSON object")
	}
	return nil
}

// exactFieldNames refuses a top-level key that names one of v's fields in
// another case ("Tenant"): encoding/json would accept it, but the admin
// API's field names are case-sensitive, and accepting variants is what lets
// two spellings mean one field. The request bodies are flat objects.
func exactFieldNames(body []byte, v any) error {
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) != nil {
		return nil // not an object: the decoder says what is wrong
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]bool{}
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			fields[name] = true
		}
	}
	for key := range keys {
		if fields[key] {
			continue
		}
		for name := range fields {
			if strings.EqualFold(name, key) {
				return invalid(key, "unknown field %q: field names are case-sensitive; send %q", key, name)
			}
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // answers may carry a secret
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

func writeError(w http.ResponseWriter, err error) {
	ae := errorOf(err)
	_ = writeJSON(w, ae.status, ae)
}

// Disabled answers every admin route 404: a server started without admin
// credentials has no admin API. The message says how to turn it on.
func Disabled(howToEnable string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, Code: CodeNotFound,
			Message: "the admin API is not enabled on this server; " + howToEnable})
	})
}

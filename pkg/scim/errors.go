package scim

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
)

// ErrorCode classifies a failure. Each code maps to one HTTP status and, where
// RFC 7644 §3.12 defines one, one scimType; that mapping lives only in the
// HTTP adapter so that nothing below it knows about HTTP.
type ErrorCode string

const (
	ENotFound           ErrorCode = "not_found"           // 404
	EUniqueness         ErrorCode = "uniqueness"          // 409 uniqueness
	EConflict           ErrorCode = "conflict"            // 409, concurrent modification lost the race
	EPreconditionFailed ErrorCode = "precondition_failed" // 412, stale If-Match / version
	EInvalidValue       ErrorCode = "invalid_value"       // 400 invalidValue
	EInvalidSyntax      ErrorCode = "invalid_syntax"      // 400 invalidSyntax
	EInvalidFilter      ErrorCode = "invalid_filter"      // 400 invalidFilter
	EInvalidPath        ErrorCode = "invalid_path"        // 400 invalidPath
	ENoTarget           ErrorCode = "no_target"           // 400 noTarget
	EMutability         ErrorCode = "mutability"          // 400 mutability
	ETooMany            ErrorCode = "too_many"            // 400 tooMany
	EInvalidCursor      ErrorCode = "invalid_cursor"      // 400 invalidCursor (RFC 9865)
	EUnauthorized       ErrorCode = "unauthorized"        // 401
	EForbidden          ErrorCode = "forbidden"           // 403
	ENotImplemented     ErrorCode = "not_implemented"     // 501
	ETooLarge           ErrorCode = "too_large"           // 413
	EUnsupportedMedia   ErrorCode = "unsupported_media"   // 415
	EMethodNotAllowed   ErrorCode = "method_not_allowed"  // 405
	ETooManyRequests    ErrorCode = "too_many_requests"   // 429 + Retry-After: the connection's rate limit
	EUnavailable        ErrorCode = "unavailable"         // 503 + Retry-After: throttled, contended or out of time; retry later
	EInternal           ErrorCode = "internal"            // 500, detail never shown to the client
)

// Error is the one error type that carries a client-facing outcome. Detail is
// written for a person (an IdP admin reading Okta's or Entra's provisioning
// log) and must never contain internals; Err keeps the cause for the log.
type Error struct {
	Code   ErrorCode
	Detail string
	Err    error
	// logDetail is Detail with the values a client sent taken out (see
	// Errorf), so that logs carry no userName, email or filter text.
	logDetail string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a client-facing error. Its detail for the log is the same
// sentence with every argument that may be a client's value replaced by
// Redacted: numbers, codes, resource types, scimgate's own schema URNs and
// ids (UUIDs) stay, any other string or value goes.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...), logDetail: fmt.Sprintf(format, redactArgs(args)...)}
}

// detailOf is an argument of Errorf that renders as another error's
// detail: its client-facing detail in Detail, its log detail in the log,
// so that a detail built on another keeps what may be logged of it.
type detailOf struct{ err error }

func (d detailOf) String() string { return ErrorDetailOf(d.err) }

// Redacted stands in the log for a value a client sent.
const Redacted = "[redacted]"

func redactArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int, int32, int64, uint, uint32, uint64, float64, bool, ErrorCode, ResourceType:
			out[i] = v
		case detailOf:
			out[i] = LogDetailOf(v.err)
		case string:
			if idPattern().MatchString(v) || loggableWords()[v] {
				out[i] = v
			} else {
				out[i] = Redacted
			}
		default:
			out[i] = Redacted
		}
	}
	return out
}

// idPattern matches the ids scimgate assigns and Entra's GUID externalIds:
// identifiers, not personal data, and what an operator correlates by.
// Compiled on first use, not at start: package initialisers are part of
// every Lambda cold start (docs/performance.md, section 3).
var idPattern = lazyRegexp(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// LogID is an id from a request path as it may be logged: itself when it is
// a well-formed id, else Redacted. A client that puts a userName or an email
// where an id belongs (/Users/ada@example.com) gets no personal data into
// the log.
func LogID(id string) string {
	if id == "" || idPattern().MatchString(id) {
		return id
	}
	return Redacted
}

// loggableWords are the strings details are built from that are
// scimgate's own vocabulary, never a client's data: schema URNs, attribute
// names as the schemas spell them, resource nouns, query parameter names,
// HTTP methods and the base path.
var loggableWords = sync.OnceValue(func() map[string]bool {
	words := map[string]bool{"user": true, "group": true, "/scim/v2": true}
	for _, w := range []string{
		UserSchema, GroupSchema, EnterpriseUserSchema, ListResponseSchema, PatchOpSchema, ErrorSchema,
		SearchRequestSchema, SPConfigSchema, ResourceTypeSchema, SchemaSchema,
		string(UserResource), string(GroupResource),
		"attributes", "excludedAttributes", "filter", "sortBy", "sortOrder", "startIndex", "count", "cursor",
		"GET", "POST", "PUT", "PATCH", "DELETE",
	} {
		words[w] = true
	}
	var add func(attrs []*Attribute)
	add = func(attrs []*Attribute) {
		for _, a := range attrs {
			words[a.Name] = true
			add(a.SubAttributes)
		}
	}
	for _, sc := range NewSchemas().All() {
		add(sc.Attributes)
	}
	return words
})

// LogDetailOf returns what the log may say about err: the detail of the
// first *Error in its chain without the client's values, or "" when err
// carries no such detail.
func LogDetailOf(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	return e.logDetail
}

// ErrorCodeOf returns the code of the first *Error in err's chain, or
// EInternal for anything else: an unclassified error is a bug or an outage,
// never the client's fault.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorDetailOf returns the client-facing detail of err, or a generic message
// for internal errors so that nothing internal leaks.
func ErrorDetailOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EInternal {
		return e.Detail
	}
	return "An internal error occurred. It has been logged; retry later or contact the service operator."
}

// IsNotFound reports whether err means "no such resource".
func IsNotFound(err error) bool { return ErrorCodeOf(err) == ENotFound }

// RetryAfter is an optional wrapper a store or the service puts around an
// ETooManyRequests or EUnavailable error to say how many seconds the client
// should wait; the HTTP layer turns it into the Retry-After header (RFC 9110
// §10.2.3), which Okta and Entra honour.
type RetryAfter interface{ RetryAfterSeconds() int }

// lazyRegexp compiles expr once, on first use.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

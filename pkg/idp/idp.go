// Package idp is the identity provider's own view of one app: who it assigns
// and which groups it pushes, as read from the IdP's management API (Okta's
// /api/v1, Microsoft Graph) rather than from what it pushed over SCIM. SCIM is
// push-only (RFC 7644 §1), so a push that never arrives goes unnoticed unless
// something compares the two; the readers in pkg/idp/okta and pkg/idp/entra
// produce a Snapshot, and the drift run joins it to scimgate's records.
//
// Nothing here knows HTTP, a store or AWS; secrets are named by reference
// (a file, a Secrets Manager ARN) and never held in a Link.
package idp

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Kind names an identity provider.
type Kind string

const (
	Okta  Kind = "okta"
	Entra Kind = "entra"
)

// User is one user the IdP has (or had) assigned to the app, with the keys a
// join to scimgate's records can use. UserName is a last resort for the join
// and must never reach a report or a log.
type User struct {
	// IdPID is the IdP's own id of the user (Okta user id, Entra object id).
	IdPID string
	// SCIMID is the id scimgate returned when the IdP created the user, where
	// the IdP keeps it (Okta stores it as the AppUser's externalId); empty
	// where the IdP does not.
	SCIMID string
	// ExternalID is what the IdP sends as the SCIM externalId (Okta: the user
	// id; Entra: mailNickname under the default mapping, or the attribute the
	// link names).
	ExternalID string
	// UserName is what the IdP sends as userName.
	UserName string
	// Assigned is true when the IdP means the user to have access: assigned
	// and active (Okta: AppUser status neither deprovisioned nor suspended;
	// Entra: assigned, directly or through a group, and accountEnabled).
	Assigned bool
	// Status is the IdP's own word for the state, for diagnostics only.
	Status string
}

// Group is one group the IdP pushes (or pushed) to the app.
type Group struct {
	// IdPID is the IdP's own id of the group.
	IdPID string
	// ExternalID is what the IdP sends as the SCIM externalId: Entra's
	// objectId by default; empty for Okta, whose Group Push sends none.
	ExternalID string
	// DisplayName is what the IdP sends as displayName: Okta's join key.
	DisplayName string
	// Pushed is true while the IdP still pushes the group (Okta: the push
	// mapping is ACTIVE; Entra: the group is assigned to the app).
	Pushed bool
	// MemberIDs are the IdPIDs of the group's direct members.
	MemberIDs []string
}

// Snapshot is the IdP's complete view of one app. A reader returns one only
// when every page was read; a partial view is an error, never a Snapshot,
// since a missing page would look like unassigned users.
type Snapshot struct {
	Users  []User
	Groups []Group
	// Requests is how many HTTP requests reading it took, token requests
	// included, for the run's cost report.
	Requests int
}

// Reader reads the IdP's view of the app a link names.
type Reader interface {
	Read(ctx context.Context) (Snapshot, error)
}

// Provisioner asks the IdP to provision users now, for the gaps scimgate may
// only report (Entra's provisionOnDemand). It returns how many it asked for.
type Provisioner interface {
	ProvisionOnDemand(ctx context.Context, userIDs []string) (int, error)
}

// SecretSource resolves a secret reference: a file path locally, a Secrets
// Manager ARN on AWS.
type SecretSource interface {
	Secret(ctx context.Context, ref string) ([]byte, error)
}

// Error is an IdP failure a reader reports instead of a partial Snapshot.
// Fix says in one line what the operator should change; Status is the HTTP
// status when there was one.
type Error struct {
	Kind   Kind
	Op     string // what was being read, e.g. "list app users"
	Status int
	Fix    string
	Err    error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Kind, e.Op)
	if e.Status != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Fix != "" {
		msg += ": " + e.Fix
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// RetryAfter is how long a 429 answer asks the caller to wait: Retry-After
// (RFC 9110 §10.2.3, seconds or an HTTP date; Microsoft Graph) or Okta's
// X-Rate-Limit-Reset (Unix seconds when the window resets). ok is false when
// the answer names neither.
func RetryAfter(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	if v := h.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(at.Sub(now), 0), true
		}
	}
	if v := h.Get("X-Rate-Limit-Reset"); v != "" {
		if unix, err := strconv.ParseInt(v, 10, 64); err == nil {
			return max(time.Unix(unix, 0).Sub(now), 0), true
		}
	}
	return 0, false
}

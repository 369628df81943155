package scim

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Connection identifies one tenant's SSO connection. Every resource, every
// uniqueness key and every token is scoped to exactly one connection: data of
// one connection is never visible through another, even within a tenant.
type Connection struct {
	Tenant string
	SSO    string
}

// connectionIDPattern: lowercase letters, digits and hyphens, 1–63 characters.
// Okta refuses base URLs containing "_", and the ids become DynamoDB key parts
// joined by "#", so nothing else is allowed.
var connectionIDPattern = lazyRegexp(`^[a-z0-9-]{1,63}$`)

// Validate checks both ids and says what is wrong in words an operator can act on.
func (c Connection) Validate() error {
	if !connectionIDPattern().MatchString(c.Tenant) {
		return Errorf(EInvalidValue, "tenant id %q is invalid: use 1-63 lowercase letters, digits or hyphens", c.Tenant)
	}
	if !connectionIDPattern().MatchString(c.SSO) {
		return Errorf(EInvalidValue, "SSO connection id %q is invalid: use 1-63 lowercase letters, digits or hyphens", c.SSO)
	}
	return nil
}

func (c Connection) String() string { return c.Tenant + "/" + c.SSO }

// ResourceType names a SCIM resource type (RFC 7643 §3, §6).
type ResourceType string

const (
	UserResource  ResourceType = "User"
	GroupResource ResourceType = "Group"
)

// Resource is a stored SCIM resource: what both stores persist and return.
// The protocol layer turns it into the JSON representation.
type Resource struct {
	Conn         Connection
	Type         ResourceType
	ID           string // server-assigned, opaque, fixed length (see NewID)
	Version      int64  // starts at 1, +1 on every change of the resource's own attributes
	Created      time.Time
	LastModified time.Time

	// Name is userName for a User and displayName for a Group. It is unique
	// within (connection, type) compared by NameKey, case-insensitively
	// among other things (RFC 7643 §4.1.1 makes userName caseExact=false;
	// Okta checks it).
	Name string
	// ExternalID is the IdP's identifier; unique within (connection, type) when not empty.
	ExternalID string
	// Active mirrors the User "active" attribute; always true for groups.
	Active bool

	// Attributes is the resource body in canonical attribute names, without
	// the server-managed or derived attributes (id, meta, schemas, groups,
	// members) and without the writeOnly password.
	Attributes map[string]any

	// Members of a Group. Filled by Get/List only when asked for.
	Members []Member
	// Groups holds the ids of the groups a User is a direct member of. Always filled for users.
	Groups []string
}

// MaxGroupMembers bounds the members a group read returns. Stores stop
// reading at MaxGroupMembers+1, so that reading a group costs a bounded
// number of requests and its response stays well inside Lambda's 6 MB
// response limit whatever the group's size; the service answers tooMany for
// a larger group unless the client excludes members. Changing members by
// PATCH add/remove never reads the member list and works at any size.
const MaxGroupMembers = 10_000

// Member is one entry of a Group's members attribute.
type Member struct {
	Value   string // id of a User of the same connection
	Display string // as the client sent it; informational only
}

// ListOptions select one page of a connection's resources of one type, in
// the store's stable order (ascending id).
type ListOptions struct {
	// Offset skips that many resources first (SCIM startIndex-1).
	Offset int
	// After resumes right after the resource with this id (cursor pagination); empty = from the start.
	After string
	// Limit is the page size; 0 returns no resources, only the total.
	Limit int
	// WithMembers loads group members. Ignored for users.
	WithMembers bool
}

// ListResult is one page of resources.
type ListResult struct {
	Resources []*Resource
	// Total is the number of live resources of that type in the connection.
	Total int
	// More reports whether resources follow the last one returned.
	More bool
}

// Store persists resources. Implementations must make every method atomic:
// it either applies completely or not at all, and a condition that fails
// (uniqueness, version, member existence) changes nothing.
//
// Errors are *Error with these codes where the client caused them:
// ENotFound (no live resource), EUniqueness (Name or ExternalID already used
// by another live resource of the same type in the connection),
// EConflict (prevVersion is not the stored version), EInvalidValue (a member
// value that is not a live user of the connection; the detail names it).
type Store interface {
	// Create stores a new resource whose ID, Version, Created and
	// LastModified the caller has set. Members of a group are added in the
	// same atomic step and must be live users.
	Create(ctx context.Context, r *Resource) error
	// Get returns a live resource by id. Users always carry Groups; groups
	// carry Members only when withMembers is true, and then at most
	// MaxGroupMembers+1 of them (in every method that loads members).
	Get(ctx context.Context, conn Connection, typ ResourceType, id string, withMembers bool) (*Resource, error)
	// FindByName is a key lookup on the case-insensitive unique name.
	FindByName(ctx context.Context, conn Connection, typ ResourceType, name string, withMembers bool) (*Resource, error)
	// FindByExternalID is a key lookup on the externalId.
	FindByExternalID(ctx context.Context, conn Connection, typ ResourceType, externalID string, withMembers bool) (*Resource, error)
	// Replace overwrites a live resource's own attributes (everything but
	// Members and Groups) if its stored version is still prevVersion.
	Replace(ctx context.Context, r *Resource, prevVersion int64) error
	// Delete soft-deletes: the resource disappears from every other method,
	// its Name and ExternalID become free, its memberships are removed, and
	// its record is retained for audit with the deletion time.
	Delete(ctx context.Context, conn Connection, typ ResourceType, id string, prevVersion int64, at time.Time) error
	// List returns a page of live resources.
	List(ctx context.Context, conn Connection, typ ResourceType, opts ListOptions) (*ListResult, error)
	// ModifyMembers replaces the group's own attributes with group (as
	// Replace, conditional on prevVersion), then adds and removes members.
	// Adding an existing member or removing a non-member is a no-op.
	ModifyMembers(ctx context.Context, group *Resource, prevVersion int64, add []Member, remove []string) error

	// Update is an atomic read-modify-write of one live resource: the store
	// reads it (a group with its members when withMembers), modify computes
	// the change, and the store writes it only if the resource is still as
	// read. When another writer got in between, the store reads again and
	// calls modify again, so modify must depend on cur alone and may run more
	// than once; an error from modify is returned as it is and writes nothing.
	// A nil *Change writes nothing. Update returns the resource as written
	// (Members only when withMembers), or as read when nothing was written.
	// A store that cannot win the race within its time bound (RetryBound)
	// answers EUnavailable; it never answers EConflict.
	Update(ctx context.Context, conn Connection, typ ResourceType, id string, withMembers bool, modify func(cur *Resource) (*Change, error)) (*Resource, error)

	// PatchMembers adds and removes members of a live group without any
	// precondition on its version: the effect of adding or removing a member
	// does not depend on the group's other attributes, so concurrent
	// membership changes never conflict (IdPs send them in parallel).
	// Removals come after additions. The group's version goes up by exactly
	// one and its lastModified becomes at if and only if its membership
	// changed: adding a member already present (with the same or no display)
	// or removing a non-member changes nothing. It returns the group's
	// version right after the change (for the ETag of the answer); under
	// concurrent changes that version may include theirs as well.
	PatchMembers(ctx context.Context, conn Connection, groupID string, add []Member, remove []string, at time.Time) (version int64, err error)
}

// Sweeper is implemented by a store whose changes can span several
// transactions (DynamoDB): Sweep completes every change of conn that a
// crash left half-applied, idempotently and safely alongside requests. A
// consistency check calls it; the store also does so itself whenever it
// finds such a change. The embedded store needs none.
type Sweeper interface {
	Sweep(ctx context.Context, conn Connection) error
}

// Change is what Store.Update writes: the resource's new own attributes
// (Next, whose Version the caller sets to the read version + 1) and, for a
// group when Members is set, the members to add and remove. Adding a member
// already present and removing a non-member are no-ops; when Next's own
// attributes equal the stored ones and no membership changes, the store
// writes nothing and the version stays.
type Change struct {
	Next    *Resource
	Members bool
	Add     []Member
	Remove  []string
}

// RetryBound is how long a store keeps retrying a write that lost a race
// or a transaction conflict (with jittered exponential backoff) before it
// answers EUnavailable, which the HTTP layer sends as 503 with Retry-After.
const RetryBound = 2 * time.Second

// UnavailableError is what a store answers when RetryBound or the request's
// deadline ran out before its write could be applied; nothing was written.
func UnavailableError(typ ResourceType, id, why string) error {
	return Errorf(EUnavailable, "%s %q could not be changed now (%s); nothing was changed, retry the request", typ, id, why)
}

// NotFoundError is the error stores return for a missing resource.
func NotFoundError(typ ResourceType, id string) error {
	return Errorf(ENotFound, "%s %q not found", typ, id)
}

// UniquenessError is the error stores return when a unique attribute is taken.
func UniquenessError(typ ResourceType, attr, value string) error {
	return Errorf(EUniqueness, "a %s with %s %q already exists", strings.ToLower(string(typ)), attr, value)
}

// VersionConflictError is the error stores return when prevVersion is stale.
func VersionConflictError(typ ResourceType, id string) error {
	return Errorf(EConflict, "%s %q was modified concurrently; retry the request", typ, id)
}

// UnknownMemberError is the error stores return for a member that is not a live user.
func UnknownMemberError(id string) error {
	return Errorf(EInvalidValue, "member %q is not a user of this connection", id)
}

// Clock and IDs are injected so that tests are deterministic.
type (
	Clock       func() time.Time
	IDGenerator func() string
)

// UniqueAttrName returns the SCIM attribute that Name holds for typ.
func UniqueAttrName(typ ResourceType) string {
	if typ == GroupResource {
		return "displayName"
	}
	return "userName"
}

func (r *Resource) String() string { return fmt.Sprintf("%s %s/%s", r.Type, r.Conn, r.ID) }

// Package observed keeps a connection's observed schema: each undeclared
// extension URN and attribute its IdP has sent, with its JSON type, when it
// was first and last seen, and how often (docs/custom-attributes.md,
// "The observed schema"). The operator lists it and turns it into a
// declaration (Declaration), so declaring is a copy, not a guess.
//
// The Recorder is the SCIM service's observer. It never adds a write to a
// request but the first sighting of a key in a process: later sightings are
// counted in memory and flushed at most once per interval per connection.
// Stores implement Store; this package imports none of them.
package observed

import (
	"context"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// JSON types (RFC 8259 §3) an observed attribute's value can have.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeArray   = "array"
	TypeObject  = "object"
)

// ValidJSONType reports whether t is one of the five types above.
func ValidJSONType(t string) bool {
	switch t {
	case TypeString, TypeNumber, TypeBoolean, TypeArray, TypeObject:
		return true
	}
	return false
}

// Bounds on what is kept of a name: a key longer than these is not recorded
// (it is counted as dropped), so that a DynamoDB sort key made of it stays
// far below the 1 KB limit.
const (
	MaxURNBytes       = 512
	MaxAttributeBytes = 256
)

// Entry is one observed key of a connection: an attribute of an undeclared
// extension URN, for one resource type and one JSON type. A value sent as
// a string once and as a number later is two entries: the operator sees
// both and the declaration takes the more frequent (Declaration).
type Entry struct {
	Conn         scim.Connection
	ResourceType scim.ResourceType
	URN          string // as first sent
	Attribute    string // as first sent
	JSONType     string
	FirstSeen    time.Time
	LastSeen     time.Time
	Count        int64
}

// Key identifies an entry within its connection. URNs and attribute names
// are case-insensitive (RFC 7643 §2.1), so they are folded.
type Key struct {
	ResourceType scim.ResourceType
	URN          string // lower case
	Attribute    string // lower case
	JSONType     string
}

// Key returns e's key.
func (e Entry) Key() Key {
	return Key{ResourceType: e.ResourceType, URN: strings.ToLower(e.URN), Attribute: strings.ToLower(e.Attribute), JSONType: e.JSONType}
}

// Store keeps the entries of each connection. A delete of the connection
// hides them (the admin surfaces read them only for a live connection); a
// purge erases them with the rest of the connection.
type Store interface {
	// AddObserved upserts each delta of conn: Count is added to the stored
	// count, LastSeen replaces the stored one, and FirstSeen, URN and
	// Attribute are kept from the entry's first write. The deltas' Conn is
	// ignored.
	AddObserved(ctx context.Context, conn scim.Connection, deltas []Entry) error
	// ListObserved returns every entry of conn, in any order.
	ListObserved(ctx context.Context, conn scim.Connection) ([]Entry, error)
}

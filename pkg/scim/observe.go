package scim

import (
	"context"
	"encoding/json"
	"strings"
)

// Observing undeclared attributes.
//
// What an IdP sends under an undeclared extension is kept (the store
// policy), but an operator declaring it later should copy, not guess: the
// Service reports each undeclared attribute a successful write carried to
// an Observer, which keeps the connection's observed schema
// (docs/custom-attributes.md).

// Observation is one undeclared attribute a successful create, replace or
// patch carried.
type Observation struct {
	ResourceType ResourceType
	URN          string // the extension URN as sent
	Attribute    string // the attribute inside it
	JSONType     string // "string", "number", "boolean", "array" or "object" (RFC 8259 §3)
}

// Observer hears of the undeclared attributes of each write after it
// committed, never of a failed request. It must neither fail nor hold up
// the request: its errors are its own to log.
type Observer interface {
	Observe(ctx context.Context, conn Connection, obs []Observation)
}

// WithObserver sets the Observer of undeclared attributes.
func WithObserver(o Observer) Option { return func(s *Service) { s.observer = o } }

// observeAfter tells the observer what a write carried, once the write
// has succeeded (*errp is the write's outcome, read when deferred calls run).
func (s *Service) observeAfter(ctx context.Context, conn Connection, obs *[]Observation, errp *error) {
	if s.observer == nil || *errp != nil || len(*obs) == 0 {
		return
	}
	s.observer.Observe(ctx, conn, *obs)
}

// observeObject records each attribute of an undeclared extension object.
func observeObject(into *[]Observation, typ ResourceType, urn string, obj map[string]any) {
	for k, v := range obj {
		observeValue(into, typ, urn, k, v)
	}
}

func observeValue(into *[]Observation, typ ResourceType, urn, attr string, v any) {
	if v == nil {
		return
	}
	for _, o := range *into {
		if o.URN == urn && strings.EqualFold(o.Attribute, attr) {
			return
		}
	}
	*into = append(*into, Observation{ResourceType: typ, URN: urn, Attribute: attr, JSONType: jsonType(v)})
}

// jsonType names v's JSON type (RFC 8259 §3).
func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, int64, int:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

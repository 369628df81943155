package adminapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/scimgate/scimgate/pkg/changes"
)

// EventsPattern is the change feed of one connection (docs/events.md).
const EventsPattern = connPattern + "/events"

// defaultEventsLimit is the page size when ?limit= is not given.
const defaultEventsLimit = 100

// maxResourceIDLength bounds ?resource=: resource ids are 36-character UUIDs.
const maxResourceIDLength = 128

// EventPage is the answer to GET .../events: records oldest first and the
// cursor to pass as ?after= next. An empty page whose next is the after
// sent means the caller is caught up.
type EventPage struct {
	Events []changes.Record `json:"events"`
	Next   string           `json:"next"`
}

// listEvents serves GET /admin/v1/connections/{tenant}/{sso}/events
// ?after=ID&limit=N&type=T,...&resource=ID.
func (c *call) listEvents() error {
	if c.h.cfg.Feed == nil {
		return &apiError{status: http.StatusNotFound, Code: CodeNotFound, Message: "this deployment keeps no change feed"}
	}
	params := c.r.URL.Query()
	g, err := globalQuery(params)
	if err != nil {
		return err
	}
	q := changes.Query{Tenant: c.conn.Tenant, SSO: c.conn.SSO, After: g.After, Limit: g.Limit, Types: g.Types}
	if rid := params.Get("resource"); rid != "" {
		if len(rid) > maxResourceIDLength {
			return invalid("resource", "resource must be a resource id of at most %d characters", maxResourceIDLength)
		}
		q.ResourceID = rid
	}
	// An unknown connection is 404, as on every route of a connection; a
	// deleted one that is not purged still has its history, which is what
	// deletion keeps for audit (the CLI's events list reads it too).
	if _, err := c.h.cfg.Store.LookupConnection(c.r.Context(), c.conn); err != nil {
		return fmt.Errorf("look up connection %s: %w", c.conn, err)
	}
	page, err := c.h.cfg.Feed.ListChanges(c.r.Context(), q)
	if err != nil {
		return err
	}
	out := EventPage{Events: page.Records, Next: page.Next}
	if out.Events == nil {
		out.Events = []changes.Record{}
	}
	return writeJSON(c.w, http.StatusOK, out)
}

// AllEventsPattern is the one change feed across every connection.
const AllEventsPattern = Prefix + "/events"

// globalQuery reads ?after=, ?limit= and ?type=, which both feeds take.
func globalQuery(params url.Values) (changes.GlobalQuery, error) {
	q := changes.GlobalQuery{Limit: defaultEventsLimit}
	if after := params.Get("after"); after != "" {
		if !changes.ValidID(after) {
			return q, invalid("after", "after %q is not an event id: pass the next of the previous page, or an id of a record", after)
		}
		q.After = after
	}
	if raw := params.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > changes.MaxPage {
			return q, invalid("limit", "limit must be a whole number from 1 to %d; got %q", changes.MaxPage, raw)
		}
		q.Limit = n
	}
	if raw := params.Get("type"); raw != "" {
		types, err := changes.ParseTypes(raw)
		if err != nil {
			return q, invalid("type", "%v", err)
		}
		q.Types = types
	}
	return q, nil
}

// listAllEvents serves GET /admin/v1/events?after=ID&limit=N&type=T,...:
// the records of every connection, oldest first, as one feed with one
// cursor (docs/events.md, "One feed for every connection").
func (c *call) listAllEvents() error {
	feed, ok := c.h.cfg.Feed.(changes.GlobalFeed)
	if !ok {
		return &apiError{status: http.StatusNotFound, Code: CodeNotFound, Message: "this deployment keeps no change feed across connections"}
	}
	q, err := globalQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	page, err := feed.ListAllChanges(c.r.Context(), q)
	if err != nil {
		return err
	}
	out := EventPage{Events: page.Records, Next: page.Next}
	if out.Events == nil {
		out.Events = []changes.Record{}
	}
	return writeJSON(c.w, http.StatusOK, out)
}

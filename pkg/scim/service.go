package scim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/pkg/changes"
)

// Defaults for list requests; ServiceProviderConfig advertises them.
const (
	DefaultMaxPageSize   = 1000   // filter.maxResults
	DefaultMaxFilterScan = 50_000 // resources read at most to answer a filter that no key answers
	scanPageSize         = 500
	// maxAttempts bounds the read-modify-write retries after a lost
	// optimistic-concurrency race (RFC 7644 §3.14 lets a provider retry
	// internally when the client did not ask for If-Match).
	maxAttempts = 4
)

// Service implements the SCIM protocol operations on a Store. It knows
// nothing of HTTP: adapters translate requests into these calls.
type Service struct {
	store         Store
	schemas       *Schemas
	now           Clock
	newID         IDGenerator
	maxPageSize   int
	maxFilterScan int
	// The change feed (changes.go): record ids, and whether records are written.
	changeIDs  changes.IDGenerator
	changeFeed bool
	// declared caches the schema sets of the connections' declarations
	// (declared.go); observer hears of undeclared attributes (observe.go).
	declared *declarationCache
	observer Observer
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock that stamps meta.created and meta.lastModified.
func WithClock(c Clock) Option { return func(s *Service) { s.now = c } }

// WithIDGenerator sets the generator of resource ids. Ids must all have the
// same length: the DynamoDB store relies on it for prefix queries.
func WithIDGenerator(g IDGenerator) Option { return func(s *Service) { s.newID = g } }

// WithMaxFilterScan bounds how many resources a non-key filter may read.
func WithMaxFilterScan(n int) Option { return func(s *Service) { s.maxFilterScan = n } }

// WithMaxPageSize bounds count on list requests.
func WithMaxPageSize(n int) Option { return func(s *Service) { s.maxPageSize = n } }

// NewService returns a Service on store.
func NewService(store Store, opts ...Option) *Service {
	s := &Service{
		store:         store,
		schemas:       NewSchemas(),
		now:           time.Now,
		newID:         uuid.NewString,
		maxPageSize:   DefaultMaxPageSize,
		maxFilterScan: DefaultMaxFilterScan,
		changeIDs:     defaultChangeIDs,
		changeFeed:    true,
		declared:      &declarationCache{set: map[string]*Schemas{}},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Schemas returns the schema definitions the service validates against.
func (s *Service) Schemas() *Schemas { return s.schemas }

// MaxPageSize is the largest count a list returns.
func (s *Service) MaxPageSize() int { return s.maxPageSize }

// timestamp truncates to milliseconds: what meta shows and what both stores keep exactly.
func (s *Service) timestamp() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// CreateResult says what Create did.
type CreateResult struct {
	Resource *Resource
	// Reactivated is true when the POST matched a deactivated user, which was
	// updated and reactivated instead of created.
	Reactivated bool
}

// Create handles POST /Users and POST /Groups (RFC 7644 §3.3).
//
// A user whose externalId (or, without one, userName) matches a deactivated
// user reactivates and updates that user: Okta and Entra re-assign a user to
// an app by POSTing it again, and the platform must see the same identity.
// A match with an active user is a 409 uniqueness error, which Okta expects
// (its SPEC test creates the same user twice).
func (s *Service) Create(ctx context.Context, conn Connection, typ ResourceType, body []byte) (res *CreateResult, err error) {
	s, err = s.scoped(ctx)
	if err != nil {
		return nil, err
	}
	_, n, err := s.decodeResource(ctx, typ, body)
	if err != nil {
		return nil, err
	}
	defer s.observeAfter(ctx, conn, &n.observed, &err)
	ctx = s.journal(ctx)
	now := s.timestamp()
	r := &Resource{Conn: conn, Type: typ, ID: s.newID(), Version: 1, Created: now, LastModified: now, Members: n.members}
	applyNormalized(r, n)
	if err := checkName(typ, nil, r.Name); err != nil {
		return nil, err
	}
	// Optimistic: the common case (a new user) costs one conditional write,
	// and the uniqueness keys written with it decide every race.
	err = s.store.Create(ctx, r)
	if err == nil {
		return &CreateResult{Resource: r}, nil
	}
	if typ != UserResource || ErrorCodeOf(err) != EUniqueness {
		return nil, wrap("create "+string(typ), err)
	}
	var lastConflict error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		existing, lookupErr := s.findForReactivation(ctx, conn, r)
		if lookupErr != nil || existing.Active {
			return nil, err // the original uniqueness error says what collided
		}
		next := *existing
		next.Version = existing.Version + 1
		next.LastModified = now
		applyNormalized(&next, n)
		if next.ExternalID == "" {
			next.ExternalID = existing.ExternalID
			if existing.ExternalID != "" {
				next.Attributes["externalId"] = existing.ExternalID
			}
		}
		replaceErr := s.store.Replace(withPrev(ctx, existing), &next, existing.Version)
		if replaceErr == nil {
			return &CreateResult{Resource: &next, Reactivated: true}, nil
		}
		if ErrorCodeOf(replaceErr) != EConflict {
			return nil, wrap("reactivate user", replaceErr)
		}
		lastConflict = replaceErr // names the user that kept changing
	}
	return nil, lastConflict
}

// decodeResource parses and validates a POST or PUT body.
func (s *Service) decodeResource(ctx context.Context, typ ResourceType, body []byte) (map[string]any, *normalized, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	policy := ExtensionPolicyFrom(ctx)
	if err := checkResourceSchemas(typ, obj, s.undeclaredAccepted(typ, policy)); err != nil {
		return nil, nil, err
	}
	n, err := s.schemas.normalizeResource(typ, obj, policy)
	if err != nil {
		return nil, nil, err
	}
	return obj, n, nil
}

func (s *Service) findForReactivation(ctx context.Context, conn Connection, r *Resource) (*Resource, error) {
	if r.ExternalID != "" {
		return s.store.FindByExternalID(ctx, conn, UserResource, r.ExternalID, false)
	}
	return s.store.FindByName(ctx, conn, UserResource, r.Name, false)
}

// applyNormalized copies a validated body into r's indexed fields and attributes.
func applyNormalized(r *Resource, n *normalized) {
	r.Attributes = n.attrs
	r.Name, _ = n.attrs[UniqueAttrName(r.Type)].(string)
	r.ExternalID, _ = n.attrs["externalId"].(string)
	r.Active = true
	if r.Type == UserResource {
		r.Active, _ = n.attrs["active"].(bool)
	}
}

// Get handles GET /{Users,Groups}/{id}.
func (s *Service) Get(ctx context.Context, conn Connection, typ ResourceType, id string, withMembers bool) (*Resource, error) {
	r, err := s.store.Get(ctx, conn, typ, id, withMembers)
	if err != nil {
		return nil, wrap("get "+string(typ), err)
	}
	if err := checkMemberBound(r); err != nil {
		return nil, err
	}
	return r, nil
}

// checkMemberBound refuses to show or rewrite a member list that the store
// cut at MaxGroupMembers: a partial list would be a lie.
func checkMemberBound(r *Resource) error {
	if len(r.Members) > MaxGroupMembers {
		return Errorf(ETooMany, "group %q has more than %d members, too many to return or replace in one response; request it with excludedAttributes=members and change members with PATCH add/remove", r.ID, MaxGroupMembers)
	}
	return nil
}

// Precondition is the If-Match of a request (RFC 7644 §3.14, RFC 9110
// §13.1.1): the versions the client accepts. None means no precondition.
type Precondition struct {
	Versions []int64
}

// IfMatch is a precondition on exactly version v.
func IfMatch(v int64) Precondition { return Precondition{Versions: []int64{v}} }

func (p Precondition) set() bool { return len(p.Versions) > 0 }

func (p Precondition) check(r *Resource) error {
	if p.set() && !slices.Contains(p.Versions, r.Version) {
		return Errorf(EPreconditionFailed, "%s %q has version %s, not a version given in If-Match; fetch it again", r.Type, r.ID, ETag(r.Version))
	}
	return nil
}

// Replace handles PUT (RFC 7644 §3.5.1): the body replaces the resource's
// attributes; readOnly attributes in it (Okta sends id, meta and groups) are ignored.
func (s *Service) Replace(ctx context.Context, conn Connection, typ ResourceType, id string, body []byte, pre Precondition) (res *Resource, err error) {
	s, err = s.scoped(ctx)
	if err != nil {
		return nil, err
	}
	obj, n, err := s.decodeResource(ctx, typ, body)
	if err != nil {
		return nil, err
	}
	defer s.observeAfter(ctx, conn, &n.observed, &err)
	if bodyID, ok := obj["id"].(string); ok && bodyID != "" && bodyID != id {
		return nil, Errorf(EMutability, "id %q in the body does not match the id %q in the URL; id is read-only", bodyID, id)
	}
	return s.readModifyWrite(ctx, conn, typ, id, pre, typ == GroupResource, func(cur *Resource) (*change, error) {
		next := *cur
		applyNormalized(&next, n)
		ch := &change{next: &next}
		if typ == GroupResource {
			// PUT replaces members too (RFC 7644 §3.5.1): absent means none.
			ch.add, ch.remove = diffMembers(cur.Members, n.members)
			ch.members = true
		}
		return ch, nil
	})
}

// change is the outcome of applying a modification to a current resource.
type change struct {
	next    *Resource
	members bool // the group's membership is part of the change
	add     []Member
	remove  []string
}

// readModifyWrite applies modify to the resource as one atomic
// read-modify-write of the store (Store.Update). Without If-Match a lost
// race is simply applied again to the newer state, as RFC 7644 §3.14 lets a
// provider do; with If-Match the second read no longer has the version the
// client named, and the answer is 412.
func (s *Service) readModifyWrite(ctx context.Context, conn Connection, typ ResourceType, id string, pre Precondition, withMembers bool, modify func(cur *Resource) (*change, error)) (*Resource, error) {
	op := "update " + string(typ)
	ctx = s.journal(ctx)
	if err := checkDeadline(ctx, typ, id); err != nil {
		return nil, err
	}
	res, err := s.store.Update(ctx, conn, typ, id, withMembers, func(cur *Resource) (*Change, error) {
		if err := pre.check(cur); err != nil {
			return nil, err
		}
		if err := checkMemberBound(cur); err != nil {
			return nil, err
		}
		ch, err := modify(cur)
		if err != nil {
			return nil, err
		}
		if err := checkName(typ, cur, ch.next.Name); err != nil {
			return nil, err
		}
		// The PATCH or PUT has been applied in memory; past the deadline
		// nothing may be written (the client has given up or is about to).
		if err := checkDeadline(ctx, typ, id); err != nil {
			return nil, err
		}
		next := ch.next
		membersChange := ch.members && (len(ch.add) > 0 || len(ch.remove) > 0)
		if !membersChange && attributesEqual(cur, next) {
			return nil, nil // nothing to change: keep the version, write nothing
		}
		next.Version = cur.Version + 1
		next.LastModified = s.timestamp()
		return &Change{Next: next, Members: membersChange, Add: ch.add, Remove: ch.remove}, nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return res, nil
}

// checkDeadline refuses to start (or to write) work after the request's
// deadline: the answer is 503 with Retry-After, and nothing is written.
func checkDeadline(ctx context.Context, typ ResourceType, id string) error {
	if err := ctx.Err(); err != nil {
		return &Error{Code: EUnavailable, Detail: fmt.Sprintf("the request ran out of time before %s %q was changed; nothing was changed, retry the request", strings.ToLower(string(typ)), id), Err: err}
	}
	return nil
}

// membershipOnly reports whether a group PATCH does nothing but add
// members by value and remove them by id (what Okta and Entra send), and
// then what it adds and removes, applied in order. Such a PATCH does not
// depend on the group's other attributes or its version, so it is applied
// without reading the group (Store.PatchMembers) and concurrent ones never
// conflict.
func membershipOnly(ops []patchOp) (add []Member, remove []string, ok bool) {
	type state struct {
		member Member
		added  bool
	}
	final := map[string]state{}
	var order []string
	set := func(id string, st state) {
		if _, seen := final[id]; !seen {
			order = append(order, id)
		}
		final[id] = st
	}
	for _, op := range ops {
		if op.path == "" || !isMembersPath(op.path) {
			return nil, nil, false
		}
		whole := strings.EqualFold(strings.TrimPrefix(strings.ToLower(op.path), strings.ToLower(GroupSchema)+":"), "members")
		switch {
		case whole && op.op == "add":
			members, err := parseMembers(op.value)
			if err != nil {
				return nil, nil, false // the general path reports it
			}
			for _, m := range members {
				set(m.Value, state{member: m, added: true})
			}
		case whole && op.op == "remove" && op.value != nil:
			members, err := parseMembers(op.value)
			if err != nil {
				return nil, nil, false
			}
			for _, m := range members {
				set(m.Value, state{})
			}
		case !whole && op.op == "remove":
			ids, ok := memberIDsFromPath(op.path)
			if !ok {
				return nil, nil, false
			}
			for _, id := range ids {
				set(id, state{})
			}
		default:
			return nil, nil, false // replace, or remove all: needs the member list
		}
	}
	for _, id := range order {
		if st := final[id]; st.added {
			add = append(add, st.member)
		} else {
			remove = append(remove, id)
		}
	}
	return add, remove, true
}

// patchMembers applies a membership-only group PATCH. The resource
// returned carries the id and the version after the change only: the group
// was not read, and a group PATCH answers 204 with just the ETag.
func (s *Service) patchMembers(ctx context.Context, conn Connection, id string, add []Member, remove []string) (*Resource, error) {
	ctx = s.journal(ctx)
	if err := checkDeadline(ctx, GroupResource, id); err != nil {
		return nil, err
	}
	version, err := s.store.PatchMembers(ctx, conn, id, add, remove, s.timestamp())
	if err != nil {
		return nil, wrap("patch members of group", err)
	}
	return &Resource{Conn: conn, Type: GroupResource, ID: id, Version: version}, nil
}

// afterLostRace decides what a failed conditional write means: nil to read
// and try again (another request changed the resource in between), or the
// error to answer. A client that pinned a version with If-Match gets 412
// instead of a retry (RFC 7644 §3.14).
func afterLostRace(op string, err error, pre Precondition, typ ResourceType, id string) error {
	switch {
	case ErrorCodeOf(err) != EConflict:
		return wrap(op, err)
	case pre.set():
		return Errorf(EPreconditionFailed, "%s %q changed since the version given in If-Match", typ, id)
	}
	return nil
}

// retryBackoff waits before another attempt after a lost race: full
// jitter below 10 ms·2^attempt, so that racing requests spread out. It
// reports false when RetryBound since start, or the deadline, would pass.
func retryBackoff(ctx context.Context, start time.Time, attempt int) bool {
	wait := time.Duration(rand.Int64N(int64(10*time.Millisecond)<<min(attempt, 8))) + time.Millisecond
	if time.Since(start)+wait > RetryBound {
		return false
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Delete handles DELETE (RFC 7644 §3.6): the resource leaves the API, its
// record stays for audit.
func (s *Service) Delete(ctx context.Context, conn Connection, typ ResourceType, id string, pre Precondition) error {
	ctx = s.journal(ctx)
	start := time.Now()
	for attempt := 0; ; attempt++ {
		if err := checkDeadline(ctx, typ, id); err != nil {
			return err
		}
		cur, err := s.store.Get(ctx, conn, typ, id, false)
		if err != nil {
			return wrap("delete "+string(typ), err)
		}
		if err := pre.check(cur); err != nil {
			return err
		}
		err = s.store.Delete(ctx, conn, typ, id, cur.Version, s.timestamp())
		if err == nil {
			return nil
		}
		if err := afterLostRace("delete "+string(typ), err, pre, typ, id); err != nil {
			return err
		}
		if !retryBackoff(ctx, start, attempt) {
			return UnavailableError(typ, id, "it kept changing while being deleted")
		}
	}
}

// ListQuery is a list or search request (RFC 7644 §3.4.2).
type ListQuery struct {
	Filter     string
	StartIndex int // 1-based; values below 1 mean 1 (RFC 7644 §3.4.2.4)
	Count      int // -1 means "not given"
	// Cursor selects cursor pagination (RFC 9865) when not nil; "" asks for the first page.
	Cursor *string
	// SortBy is an attribute path; empty keeps the stable store order (ascending id).
	SortBy         string
	SortDescending bool
	WithMembers    bool
	// BaseURL is the connection's base URL, for meta.location in filter evaluation.
	BaseURL string
}

// ListPage is one page of a list response.
type ListPage struct {
	Resources    []*Resource
	TotalResults int
	StartIndex   int // index pagination only
	// NextCursor is set, in cursor pagination, when more results follow.
	NextCursor string
}

// List handles GET /Users and GET /Groups and their POST /.search forms.
//
// Without a filter or sortBy, a page is one ranged store query. A filter on
// a unique attribute is a key lookup. Any other filter, and any sort, reads
// the connection's resources page by page, at most maxFilterScan of them,
// and answers tooMany beyond that, so that no request's cost is unbounded.
func (s *Service) List(ctx context.Context, conn Connection, typ ResourceType, q ListQuery) (*ListPage, error) {
	s, err := s.scoped(ctx)
	if err != nil {
		return nil, err
	}
	count := s.pageSize(q.Count)
	var f *Filter
	if q.Filter != "" {
		var err error
		if f, err = s.compileFilter(typ, q.Filter, false); err != nil {
			return nil, err
		}
	}
	var sorter *sortKey
	if q.SortBy != "" {
		var err error
		if sorter, err = s.compileSort(typ, q.SortBy, q.SortDescending); err != nil {
			return nil, err
		}
	}
	pos, err := decodePosition(q, sorter != nil || f != nil)
	if err != nil {
		return nil, err
	}
	if f == nil && sorter == nil {
		res, err := s.store.List(ctx, conn, typ, ListOptions{Offset: pos.offset, After: pos.after, Limit: count, WithMembers: q.WithMembers})
		if err != nil {
			return nil, wrap("list "+string(typ), err)
		}
		for _, r := range res.Resources {
			if err := checkMemberBound(r); err != nil {
				return nil, err
			}
		}
		page := &ListPage{Resources: res.Resources, TotalResults: res.Total, StartIndex: pos.offset + 1}
		if q.Cursor != nil && res.More && len(res.Resources) > 0 {
			page.NextCursor = encodeCursor("a:" + res.Resources[len(res.Resources)-1].ID)
		}
		return page, nil
	}
	matches, err := s.matchAll(ctx, conn, typ, f, q)
	if err != nil {
		return nil, err
	}
	if sorter != nil {
		sorter.sort(s, matches, q.BaseURL)
	}
	return paginate(matches, pos, count, q.Cursor != nil), nil
}

// pageSize is count clamped to the maximum page size; -1 (not given) means the maximum.
func (s *Service) pageSize(count int) int {
	if count < 0 || count > s.maxPageSize {
		return s.maxPageSize
	}
	return count
}

// position is where a page starts: an offset, or after an id.
type position struct {
	offset int
	after  string
}

// decodePosition reads startIndex or the cursor. Cursors are opaque to
// clients: "a:<id>" resumes after an id in store order, "o:<n>" at an offset
// of a filtered or sorted result.
func decodePosition(q ListQuery, computed bool) (position, error) {
	if q.Cursor == nil {
		return position{offset: max(q.StartIndex, 1) - 1}, nil
	}
	if *q.Cursor == "" {
		return position{}, nil
	}
	invalid := Errorf(EInvalidCursor, "cursor %q is not one this server issued; start again without a cursor value", *q.Cursor)
	raw, err := base64.RawURLEncoding.DecodeString(*q.Cursor)
	if err != nil {
		return position{}, invalid
	}
	kind, value, ok := strings.Cut(string(raw), ":")
	switch {
	case ok && kind == "a" && !computed && value != "":
		return position{after: value}, nil
	case ok && kind == "o" && computed:
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return position{}, invalid
		}
		return position{offset: n}, nil
	}
	return position{}, invalid
}

func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func paginate(matches []*Resource, pos position, count int, cursor bool) *ListPage {
	page := &ListPage{TotalResults: len(matches), StartIndex: pos.offset + 1}
	if pos.offset < len(matches) {
		end := min(len(matches), pos.offset+count)
		page.Resources = matches[pos.offset:end]
		if cursor && end < len(matches) {
			page.NextCursor = encodeCursor("o:" + strconv.Itoa(end))
		}
	}
	return page
}

// matchAll returns every resource that matches f (all of them when f is
// nil), in store order.
func (s *Service) matchAll(ctx context.Context, conn Connection, typ ResourceType, f *Filter, q ListQuery) ([]*Resource, error) {
	withMembers := q.WithMembers || (f != nil && f.needsMembers)
	if f != nil && f.lookup != nil {
		r, err := s.lookup(ctx, conn, typ, *f.lookup, withMembers)
		if IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, wrap("filter "+string(typ), err)
		}
		if err := checkMemberBound(r); err != nil {
			return nil, err
		}
		if !f.Matches(s.document(r, q.BaseURL)) {
			return nil, nil
		}
		if !q.WithMembers {
			r.Members = nil
		}
		return []*Resource{r}, nil
	}
	var matches []*Resource
	after, scanned := "", 0
	for {
		// Filter evaluation stops at the request's deadline (503) instead
		// of running on for a client that has gone.
		if err := ctx.Err(); err != nil {
			return nil, wrap("filter "+string(typ), err)
		}
		limit := min(scanPageSize, s.maxFilterScan-scanned+1)
		res, err := s.store.List(ctx, conn, typ, ListOptions{After: after, Limit: limit, WithMembers: withMembers})
		if err != nil {
			return nil, wrap("filter "+string(typ), err)
		}
		for _, r := range res.Resources {
			if err := checkMemberBound(r); err != nil {
				return nil, err
			}
			if f == nil || f.Matches(s.document(r, q.BaseURL)) {
				if !q.WithMembers {
					r.Members = nil
				}
				matches = append(matches, r)
			}
		}
		scanned += len(res.Resources)
		if scanned > s.maxFilterScan {
			return nil, Errorf(ETooMany, "this request would read more than %d resources; filter on userName, externalId or id (or displayName for groups), or drop sortBy", s.maxFilterScan)
		}
		if !res.More || len(res.Resources) == 0 {
			return matches, nil
		}
		after = res.Resources[len(res.Resources)-1].ID
	}
}

func (s *Service) lookup(ctx context.Context, conn Connection, typ ResourceType, k keyLookup, withMembers bool) (*Resource, error) {
	switch k.attr {
	case "id":
		return s.store.Get(ctx, conn, typ, k.value, withMembers)
	case "externalId":
		return s.store.FindByExternalID(ctx, conn, typ, k.value, withMembers)
	default:
		return s.store.FindByName(ctx, conn, typ, k.value, withMembers)
	}
}

// wrap adds the operation to internal errors and passes client errors through unchanged.
func wrap(op string, err error) error {
	var se *Error
	if errors.As(err, &se) && se.Code != EInternal {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// The request's deadline passed (or its client left) in the middle
		// of a store call: a retry later may succeed.
		return &Error{Code: EUnavailable, Detail: "the request ran out of time; retry it (a change that was cut short is completed or undone by the retry)", Err: fmt.Errorf("%s: %w", op, err)}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func diffMembers(current, desired []Member) (add []Member, remove []string) {
	have := map[string]bool{}
	for _, m := range current {
		have[m.Value] = true
	}
	want := map[string]bool{}
	for _, m := range desired {
		want[m.Value] = true
		if !have[m.Value] {
			add = append(add, m)
		}
	}
	for _, m := range current {
		if !want[m.Value] {
			remove = append(remove, m.Value)
		}
	}
	return add, remove
}

func applyMemberDiff(current []Member, add []Member, remove []string) []Member {
	removed := map[string]bool{}
	for _, id := range remove {
		removed[id] = true
	}
	out := make([]Member, 0, len(current)+len(add))
	seen := map[string]bool{}
	for _, m := range current {
		if !removed[m.Value] {
			out = append(out, m)
			seen[m.Value] = true
		}
	}
	for _, m := range add {
		if !seen[m.Value] && !removed[m.Value] {
			out = append(out, m)
			seen[m.Value] = true
		}
	}
	return out
}

// SearchAll handles POST /.search at the connection root (RFC 7644
// §3.4.3): users, then groups. A comparison on an attribute that one type
// lacks is false for that type rather than failing the search.
func (s *Service) SearchAll(ctx context.Context, conn Connection, q ListQuery) (*ListPage, error) {
	s, err := s.scoped(ctx)
	if err != nil {
		return nil, err
	}
	if q.SortBy != "" {
		return nil, Errorf(EInvalidValue, "sortBy is not supported on a search across resource types; search /Users/.search or /Groups/.search instead")
	}
	count := s.pageSize(q.Count)
	pos, err := decodePosition(q, true)
	if err != nil {
		return nil, err
	}
	var all []*Resource
	for _, typ := range []ResourceType{UserResource, GroupResource} {
		var f *Filter
		if q.Filter != "" {
			if f, err = s.compileFilter(typ, q.Filter, true); err != nil {
				return nil, err
			}
		}
		matches, err := s.matchAll(ctx, conn, typ, f, ListQuery{WithMembers: q.WithMembers && typ == GroupResource, BaseURL: q.BaseURL})
		if err != nil {
			return nil, err
		}
		all = append(all, matches...)
	}
	return paginate(all, pos, count, q.Cursor != nil), nil
}

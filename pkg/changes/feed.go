package changes

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Query selects records of one connection, oldest first.
type Query struct {
	Tenant, SSO string
	// After resumes after the record with this id; "" from the oldest kept.
	After string
	// Limit bounds the page; the stores clamp it to MaxPage.
	Limit int
	// Types keeps only records of these types; empty keeps all.
	Types []Type
	// ResourceID keeps only one resource's records (its history).
	ResourceID string
	// Since keeps only records written at or after it; zero keeps all.
	Since time.Time
}

// MaxPage bounds one page of the feed.
const MaxPage = 1000

// Page is one page of the feed. Next is the cursor to pass as After for the
// following page: the id of the last record scanned, or Query.After when
// nothing newer exists yet, so that an empty page with an unchanged cursor
// means "caught up".
type Page struct {
	Records []Record
	Next    string
}

// Conn names a connection in the feed.
type Conn struct{ Tenant, SSO string }

func (c Conn) String() string { return c.Tenant + "/" + c.SSO }

// Feed is the store side of reading records; both stores implement it.
type Feed interface {
	ListChanges(ctx context.Context, q Query) (*Page, error)
}

// GlobalQuery selects records of every connection, oldest first: the one
// feed a platform's backend follows instead of one cursor per connection.
type GlobalQuery struct {
	// After resumes after the record with this id (the Next of a page);
	// "" from the oldest kept.
	After string
	// Limit bounds the page; the stores clamp it to MaxPage.
	Limit int
	// Types keeps only records of these types; empty keeps all.
	Types []Type
}

// GlobalFeed is the store side of the feed across connections; both
// stores implement it. Its pages follow the rules of Feed's: ordered,
// resumable from Next with no gap and no duplicate, and an empty page
// whose Next is the After sent means caught up.
type GlobalFeed interface {
	ListAllChanges(ctx context.Context, q GlobalQuery) (*Page, error)
}

// ConnectionLister lists the connections a deliverer follows.
type ConnectionLister func(ctx context.Context) ([]Conn, error)

// Cursors keep, per consumer and connection, the id of the last record the
// consumer has processed, so that delivery resumes there after a restart.
type Cursors interface {
	// LoadCursor returns "" when the consumer has none for conn.
	LoadCursor(ctx context.Context, consumer string, conn Conn) (string, error)
	SaveCursor(ctx context.Context, consumer string, conn Conn, id string) error
}

// Pruner deletes records older than a time (the embedded store's retention;
// DynamoDB's TTL does it on AWS). It returns how many it deleted.
type Pruner interface {
	PruneChanges(ctx context.Context, before time.Time) (int, error)
}

// DefaultRetention is how long records are kept unless configured otherwise.
const DefaultRetention = 400 * 24 * time.Hour

// Matches reports whether r passes q's filters (not its position).
func (q Query) Matches(r *Record) bool {
	if len(q.Types) > 0 && !slices.Contains(q.Types, r.Type) {
		return false
	}
	if q.ResourceID != "" && r.ResourceID != q.ResourceID {
		return false
	}
	if !q.Since.IsZero() && r.Time.Before(q.Since) {
		return false
	}
	return true
}

// ChangedAttributes names the top-level attributes whose values differ
// between before and after (added, removed or changed), sorted. Names are
// compared case-insensitively, as SCIM attribute names are (RFC 7643 §2.1),
// and reported as after (or, for a removed one, before) spells them.
func ChangedAttributes(before, after map[string]any) []string {
	lowerBefore := make(map[string]string, len(before))
	for k := range before {
		lowerBefore[strings.ToLower(k)] = k
	}
	seen := map[string]bool{}
	var out []string
	for k, v := range after {
		lk := strings.ToLower(k)
		seen[lk] = true
		bk, ok := lowerBefore[lk]
		if !ok || !reflect.DeepEqual(before[bk], v) {
			out = append(out, k)
		}
	}
	for lk, bk := range lowerBefore {
		if !seen[lk] {
			out = append(out, bk)
		}
	}
	slices.Sort(out)
	return out
}

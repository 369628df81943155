// Package health keeps the sync health of each SSO connection: when its IdP
// last called and last succeeded, the last error it got, how many requests
// succeeded or failed over the last hour and day, how many the rate limit
// refused, and the IdP's user agent. Support's first question, "is the IdP
// still sending to us?", is answered from it without reading logs.
//
// Nothing is written per SCIM request. Each process (the local server, each
// Lambda execution environment) aggregates its requests in memory
// (Aggregator) into one Bucket per connection and clock hour, and flushes the
// buckets that changed at most once per flush interval. A bucket belongs to
// one instance and holds that instance's totals for the hour, so a flush
// replaces it whole: writing it twice (an SDK retry) is harmless, and
// instances never contend for an item. Readers sum the buckets of every
// instance (Summarize). docs/operations.md, "Sync health", states the cost
// and the staleness.
//
// The package knows nothing of HTTP or of the stores: Observer plugs into
// the HTTP layer's observer seam, and a Store keeps the buckets.
package health

import (
	"context"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// SlotWidth is the resolution of the counts: each bucket holds SlotsPerHour
// slots, so "the last hour" is the current slot and the 11 before it.
const SlotWidth = 5 * time.Minute

// SlotsPerHour is the number of slots in a bucket.
const SlotsPerHour = int(time.Hour / SlotWidth)

// Retention is how long stores keep a bucket: the last day read by
// Summarize plus a day of margin, after which DynamoDB's Time to Live (or the
// embedded store's own cleanup) removes it.
const Retention = 48 * time.Hour

// Window is how far back a report reads: the last day, and the partial hour
// bucket it starts in.
const Window = 24 * time.Hour

// MaxUserAgentLength bounds the stored user agent, in bytes: IdPs send short
// product tokens ("Okta SCIM Client 1.0.0"); anything longer is cut so that
// a bucket stays within one DynamoDB write unit.
const MaxUserAgentLength = 128

// Counts are requests by outcome. RateLimited (429) requests are also
// counted in Client4xx.
type Counts struct {
	Success2xx  int64 `json:"2xx"`
	Redirect3xx int64 `json:"3xx"` // 304 Not Modified to If-None-Match
	Client4xx   int64 `json:"4xx"`
	Server5xx   int64 `json:"5xx"`
	RateLimited int64 `json:"rate_limited"`
}

func (c *Counts) add(o Counts) {
	c.Success2xx += o.Success2xx
	c.Redirect3xx += o.Redirect3xx
	c.Client4xx += o.Client4xx
	c.Server5xx += o.Server5xx
	c.RateLimited += o.RateLimited
}

func (c Counts) zero() bool { return c == Counts{} }

// countsOf is one request with status.
func countsOf(status int) Counts {
	var c Counts
	switch {
	case status >= 500:
		c.Server5xx = 1
	case status >= 400:
		c.Client4xx = 1
		if status == 429 {
			c.RateLimited = 1
		}
	case status >= 300:
		c.Redirect3xx = 1
	default:
		c.Success2xx = 1
	}
	return c
}

// Call is one SCIM request as health remembers it: never its path (which
// carries ids and userNames), only the route template.
type Call struct {
	Time      time.Time
	Method    string // GET, POST, ...
	Route     string // the route relative to the base URL, e.g. "/Users/{id}"
	Status    int
	ScimType  string // of an error answer (RFC 7644 §3.12), "" for none
	RequestID string // the X-Request-Id it was answered and logged under
}

// later returns whichever of a and b is more recent (a on a tie).
func later(a, b *Call) *Call {
	if a == nil || (b != nil && b.Time.After(a.Time)) {
		return b
	}
	return a
}

// Bucket is one instance's health of one connection over one clock hour.
type Bucket struct {
	Conn     scim.Connection
	Hour     time.Time // UTC, on the hour
	Instance string    // the process that wrote it: unique per process
	Slots    [SlotsPerHour]Counts
	// The latest request, success (status < 400) and error (>= 400) of the
	// hour; nil when none.
	LastRequest, LastSuccess, LastError *Call
	// UserAgent is the sanitised User-Agent of LastRequest.
	UserAgent string
}

// Store keeps buckets.
type Store interface {
	// PutHealth stores each bucket, replacing the one of the same
	// connection, hour and instance. Buckets older than Retention may be
	// removed.
	PutHealth(ctx context.Context, buckets []Bucket) error
	// ListHealth returns conn's buckets whose Hour is at or after since, of
	// every instance, in any order.
	ListHealth(ctx context.Context, conn scim.Connection, since time.Time) ([]Bucket, error)
}

// SanitizeUserAgent keeps a User-Agent value fit to show and store: visible
// ASCII and spaces only (anything else becomes "?", so a header cannot
// carry control characters or terminal escapes into a table), runs of
// spaces collapsed, at most MaxUserAgentLength bytes.
func SanitizeUserAgent(ua string) string {
	out := make([]byte, 0, min(len(ua), MaxUserAgentLength))
	space := false
	for _, r := range ua {
		if len(out) >= MaxUserAgentLength {
			break
		}
		switch {
		case r == ' ' || r == '\t':
			if !space && len(out) > 0 {
				out = append(out, ' ')
			}
			space = true
			continue
		case r > ' ' && r <= '~':
			out = append(out, byte(r))
		default:
			out = append(out, '?')
		}
		space = false
	}
	for len(out) > 0 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1]
	}
	return string(out)
}

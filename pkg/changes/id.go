package changes

import (
	"crypto/rand"
	"io"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// IDGenerator returns a new record id for a record written at t. Ids sort
// in time order; the stores and the feed rely on it. Injected so that tests
// are deterministic.
type IDGenerator func(t time.Time) string

// NewIDGenerator returns ULIDs (26 characters, Crockford base32: the 48-bit
// millisecond time, then 80 bits of entropy). Within one millisecond of one
// generator the entropy is incremented rather than drawn again, so ids from
// one process are strictly increasing. entropy nil means crypto/rand.
func NewIDGenerator(entropy io.Reader) IDGenerator {
	if entropy == nil {
		entropy = rand.Reader
	}
	var mu sync.Mutex
	mono := ulid.Monotonic(entropy, 0)
	var last uint64
	return func(t time.Time) string {
		mu.Lock()
		defer mu.Unlock()
		ms := ulid.Timestamp(t)
		// A clock that steps back must not break the order within this
		// process: stay on the last millisecond used.
		if ms < last {
			ms = last
		}
		last = ms
		id, err := ulid.New(ms, mono)
		if err != nil {
			// Only when 2^80 ids were drawn in one millisecond; move on to the next.
			last++
			mono = ulid.Monotonic(entropy, 0)
			id = ulid.MustNew(last, mono)
		}
		return id.String()
	}
}

// IDTime is the time encoded in a record id; ok is false for a malformed id.
func IDTime(id string) (t time.Time, ok bool) {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return time.Time{}, false
	}
	return ulid.Time(u.Time()).UTC(), true
}

// ValidID reports whether id has the form of a record id (a cursor a client may send).
func ValidID(id string) bool {
	_, ok := IDTime(id)
	return ok
}

package health

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The stored form of a bucket's content (both stores keep it as one JSON
// string beside the bucket's key): short names and only the slots that
// counted something, so that a bucket stays within one DynamoDB write
// capacity unit (1 KB). The connection, hour and instance are the key.
type storedBucket struct {
	V     int                 `json:"v"`
	Slots map[string][5]int64 `json:"s,omitempty"` // slot index -> 2xx, 3xx, 4xx, 5xx, 429
	OK    *storedCall         `json:"ok,omitempty"`
	Err   *storedCall         `json:"e,omitempty"`
	UA    string              `json:"ua,omitempty"`
}

// The latest request is not stored: it is the later of the latest success
// and the latest error.
type storedCall struct {
	T int64  `json:"t"` // Unix milliseconds
	M string `json:"m"`
	P string `json:"p"`
	C int    `json:"c"`
	Y string `json:"y,omitempty"`
	I string `json:"i,omitempty"`
}

const storedVersion = 1

func storeCall(c *Call) *storedCall {
	if c == nil {
		return nil
	}
	return &storedCall{T: c.Time.UnixMilli(), M: c.Method, P: c.Route, C: c.Status, Y: c.ScimType, I: c.RequestID}
}

func loadCall(s *storedCall) *Call {
	if s == nil {
		return nil
	}
	return &Call{Time: time.UnixMilli(s.T).UTC(), Method: s.M, Route: s.P, Status: s.C, ScimType: s.Y, RequestID: s.I}
}

// EncodeBucket is the stored content of b (without its key).
func EncodeBucket(b Bucket) ([]byte, error) {
	s := storedBucket{V: storedVersion, OK: storeCall(b.LastSuccess), Err: storeCall(b.LastError), UA: b.UserAgent}
	for i, c := range b.Slots {
		if c.zero() {
			continue
		}
		if s.Slots == nil {
			s.Slots = map[string][5]int64{}
		}
		s.Slots[strconv.Itoa(i)] = [5]int64{c.Success2xx, c.Redirect3xx, c.Client4xx, c.Server5xx, c.RateLimited}
	}
	out, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode health bucket: %w", err)
	}
	return out, nil
}

// DecodeBucket fills b's content from what EncodeBucket stored; the caller
// sets the key fields.
func DecodeBucket(data []byte, b *Bucket) error {
	var s storedBucket
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("decode health bucket: %w", err)
	}
	if s.V != storedVersion {
		return fmt.Errorf("decode health bucket: unknown version %d", s.V)
	}
	for k, v := range s.Slots {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= SlotsPerHour {
			return fmt.Errorf("decode health bucket: slot %q out of range", k)
		}
		b.Slots[i] = Counts{Success2xx: v[0], Redirect3xx: v[1], Client4xx: v[2], Server5xx: v[3], RateLimited: v[4]}
	}
	b.LastSuccess, b.LastError = loadCall(s.OK), loadCall(s.Err)
	b.LastRequest = later(copyCall(b.LastSuccess), copyCall(b.LastError))
	b.UserAgent = s.UA
	return nil
}

// HourKey is the fixed-width form of a bucket's hour that stores sort by.
func HourKey(hour time.Time) string { return hour.UTC().Truncate(time.Hour).Format("2006-01-02T15Z") }

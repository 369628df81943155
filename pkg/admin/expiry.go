package admin

import (
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// ParseExpiry reads when a token should expire, as `--expires-in` and the
// admin API take it: a Go duration with a `d` suffix for days added
// (90s, 24h, 365d, 1d12h) counted from now, or an absolute RFC 3339 time.
// The result must lie after now: a token that is born expired is a mistake.
func ParseExpiry(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	invalid := func() (time.Time, error) {
		return time.Time{}, scim.Errorf(scim.EInvalidValue,
			"expires %q is neither a duration (90s, 24h, 365d) nor an RFC 3339 time (2027-01-31T00:00:00Z)", s)
	}
	if s == "" {
		return invalid()
	}
	if at, err := time.Parse(time.RFC3339, s); err == nil {
		if !at.After(now) {
			return time.Time{}, scim.Errorf(scim.EInvalidValue, "expires %q is not in the future", s)
		}
		return at.UTC(), nil
	}
	d, ok := parseDays(s)
	if !ok {
		return invalid()
	}
	if d <= 0 {
		return time.Time{}, scim.Errorf(scim.EInvalidValue, "expires %q must be a positive duration", s)
	}
	return now.Add(d).UTC(), nil
}

// maxDays keeps now+d far from time.Duration's overflow (about 292 years).
const maxDays = 100 * 365

// parseDays is time.ParseDuration with whole days ("365d", "1d12h") in front.
func parseDays(s string) (time.Duration, bool) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > maxDays || strings.HasPrefix(s, "+") {
			return 0, false
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, true
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || (days > 0 && d < 0) {
		return 0, false
	}
	return days + d, true
}

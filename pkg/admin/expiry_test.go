package admin_test

import (
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/scim"
)

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time // zero: refused with invalid_value
	}{
		{"90s", now.Add(90 * time.Second)},
		{"24h", now.Add(24 * time.Hour)},
		{"1h30m", now.Add(90 * time.Minute)},
		{"365d", now.AddDate(0, 0, 365)},
		{"1d", now.AddDate(0, 0, 1)},
		{"1d12h", now.Add(36 * time.Hour)},
		{" 7d ", now.AddDate(0, 0, 7)},
		{"2027-01-31T00:00:00Z", time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)},
		{"2027-01-31T02:00:00+02:00", time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)},
		{"", time.Time{}},
		{"0s", time.Time{}},
		{"-1h", time.Time{}},
		{"-1d", time.Time{}},
		{"+1d", time.Time{}},
		{"1d-1h", time.Time{}},
		{"d", time.Time{}},
		{"1.5d", time.Time{}},
		{"5", time.Time{}},
		{"1w", time.Time{}},
		{"99999999d", time.Time{}},
		{"tomorrow", time.Time{}},
		{"2026-11-02T09:00:00Z", time.Time{}}, // now is not in the future
		{"2020-01-01T00:00:00Z", time.Time{}},
		{"2027-01-31", time.Time{}}, // a date without a time is ambiguous about the zone
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := admin.ParseExpiry(tc.in, now)
			if tc.want.IsZero() {
				if scim.ErrorCodeOf(err) != scim.EInvalidValue {
					t.Fatalf("ParseExpiry(%q) = %v, %v; want invalid_value", tc.in, got, err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("ParseExpiry(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

package idp

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
		wantOK bool
	}{
		{name: "seconds (Graph)", header: http.Header{"Retry-After": {"7"}}, want: 7 * time.Second, wantOK: true},
		{name: "zero seconds", header: http.Header{"Retry-After": {"0"}}, want: 0, wantOK: true},
		{name: "HTTP date", header: http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, want: 90 * time.Second, wantOK: true},
		{name: "HTTP date in the past", header: http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, want: 0, wantOK: true},
		{name: "Okta reset", header: http.Header{"X-Rate-Limit-Reset": {"1772355630"}}, want: 30 * time.Second, wantOK: true},
		{name: "Retry-After wins over reset", header: http.Header{"Retry-After": {"2"}, "X-Rate-Limit-Reset": {"1772355630"}}, want: 2 * time.Second, wantOK: true},
		{name: "garbage falls back to reset", header: http.Header{"Retry-After": {"soon"}, "X-Rate-Limit-Reset": {"1772355630"}}, want: 30 * time.Second, wantOK: true},
		{name: "negative seconds", header: http.Header{"Retry-After": {"-3"}}, wantOK: false},
		{name: "neither", header: http.Header{}, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RetryAfter(tt.header, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RetryAfter = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

func TestBackPressureAnswersCarryRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		code   scim.ErrorCode
		status int
	}{{scim.ETooManyRequests, http.StatusTooManyRequests}, {scim.EUnavailable, http.StatusServiceUnavailable}} {
		rec := httptest.NewRecorder()
		writeError(rec, scim.Errorf(tc.code, "come back later"))
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.code, rec.Code, tc.status)
		}
		if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 3 {
			t.Errorf("%s: Retry-After %q, want 1-3 seconds", tc.code, rec.Header().Get("Retry-After"))
		}
	}
}

package scim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestProjectionRefusesFiltersAndSaysWhatWorks: RFC 7644 §3.4.2.5 makes
// attributes and excludedAttributes lists of attribute names (optionally
// URN-qualified, with .sub-attributes); a value filter is not one. The 400
// stays, but its detail must say what is accepted, so a person can fix it.
func TestProjectionRefusesFiltersAndSaysWhatWorks(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ attributes, excluded string }{
		{`emails[type eq "work"]`, ""},
		{`emails[type eq "work"].value`, ""},
		{"", `emails[type eq "work"]`},
		{`userName,emails[type eq "work"]`, ""},
	} {
		_, err := h.svc.ParseProjection(context.Background(), scim.UserResource, tc.attributes, tc.excluded)
		wantCode(t, err, scim.EInvalidValue)
		detail := scim.ErrorDetailOf(err)
		for _, want := range []string{"emails.value", "filter", "comma-separated"} {
			if !strings.Contains(detail, want) {
				t.Errorf("attributes=%q excludedAttributes=%q: detail %q does not mention %q", tc.attributes, tc.excluded, detail, want)
			}
		}
	}
	// Valid forms still parse.
	for _, ok := range []string{"emails", "emails.value", "name.givenName,userName", scim.EnterpriseUserSchema + ":manager.value", scim.UserSchema + ":emails.value"} {
		if _, err := h.svc.ParseProjection(context.Background(), scim.UserResource, ok, ""); err != nil {
			t.Errorf("attributes=%q: %v", ok, err)
		}
	}
}

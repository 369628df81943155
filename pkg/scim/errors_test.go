package scim_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

func TestLogDetailOf(t *testing.T) {
	const id = "0a1b2c3d-0000-4000-8000-00000000abcd"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"client values go, vocabulary stays", scim.Errorf(scim.EUniqueness, "a %s with %s %q already exists", "user", "userName", "ada@example.com"),
			`a user with userName "[redacted]" already exists`},
		{"ids and numbers stay", scim.Errorf(scim.ETooMany, "group %q has more than %d members", id, 10000),
			`group "` + id + `" has more than 10000 members`},
		{"errors and lists go", scim.Errorf(scim.EInvalidSyntax, "not JSON: %v (%v)", fmt.Errorf("bad %s", "ada"), []string{"ada"}),
			`not JSON: [redacted] ([redacted])`},
		{"a wrapped error's detail", fmt.Errorf("create user: %w", scim.Errorf(scim.EInvalidFilter, "filter %q is bad", `userName eq "ada"`)),
			`filter "[redacted]" is bad`},
		{"not a scim.Error", fmt.Errorf("disk on fire"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := scim.LogDetailOf(tc.err); got != tc.want {
				t.Errorf("LogDetailOf = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLogDetailOfNestedDetail: a detail that quotes another error's detail
// keeps that detail's loggable part, not just "[redacted]".
func TestLogDetailOfNestedDetail(t *testing.T) {
	h := newHarness(t)
	u := h.user("ada@example.com")
	_, err := h.patch(scim.UserResource, u.ID, `[{"op":"replace","path":"adaLovelace","value":"x"}]`)
	wantCode(t, err, scim.EInvalidPath)
	got := scim.LogDetailOf(err)
	if !strings.HasPrefix(got, "operation 1: attribute ") || strings.Contains(got, "adaLovelace") {
		t.Errorf("LogDetailOf = %q, want the nested detail with the path redacted", got)
	}
	if !strings.Contains(scim.ErrorDetailOf(err), `"adaLovelace"`) {
		t.Errorf("the client's detail lost the path it names: %q", scim.ErrorDetailOf(err))
	}
}

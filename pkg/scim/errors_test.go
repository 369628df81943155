package scim_test

import (
	"fmt"
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

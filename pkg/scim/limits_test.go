package scim_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TestREADMEListsEveryLimit: the README's limits table shows each limit
// under the name error details use, with its value, so that the published
// table cannot drift from the code.
func TestREADMEListsEveryLimit(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "| `"); ok {
			if name, _, ok := strings.Cut(name, "` |"); ok {
				rows[name] = line
			}
		}
	}
	for _, l := range scim.Limits() {
		row, ok := rows[l.Name]
		if !ok {
			t.Errorf("README has no row for limit %s", l.Name)
			continue
		}
		cells := strings.Split(row, " | ")
		if len(cells) < 2 || !strings.Contains(cells[1], withCommas(l.Value)) {
			t.Errorf("README row for %s does not show %s: %s", l.Name, withCommas(l.Value), row)
		}
	}
}

// TestServiceProviderConfigAdvertisesLimits: the limits RFC 7644 §5 has a
// place for are the enforced ones.
func TestServiceProviderConfigAdvertisesLimits(t *testing.T) {
	cfg := scim.NewService(nil).ServiceProviderConfig("https://x")
	bulk := cfg["bulk"].(map[string]any)
	filter := cfg["filter"].(map[string]any)
	if bulk["maxOperations"] != scim.MaxBulkOperations || bulk["maxPayloadSize"] != scim.MaxBulkPayloadBytes || filter["maxResults"] != scim.DefaultMaxPageSize {
		t.Errorf("ServiceProviderConfig bulk %v filter %v", bulk, filter)
	}
}

func withCommas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

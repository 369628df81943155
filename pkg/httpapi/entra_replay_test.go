package httpapi_test

import (
	"net/url"
	"strings"
	"testing"
)

// entraFixtures holds the requests Microsoft documents the Entra ID
// provisioning service sending, one scenario per file, in the Okta fixture
// format; testdata/entra/README.md names the source of each.
const entraFixtures = "../../testdata/entra"

// entraTraffic is the Entra set: its paths are written as Microsoft prints
// them (spaces and quotes in the filter), so the query is percent-encoded.
func entraTraffic() fixtureSet { return fixtureSet{dir: entraFixtures, wirePath: encodeQuery} }

func TestEntraReplayEmbeddedStore(t *testing.T) {
	replayFixtures(t, entraTraffic(), sqliteStores)
}

// TestEntraReplayDynamoDB replays the Entra traffic on the store Lambda
// uses, so that both stores answer Entra identically.
func TestEntraReplayDynamoDB(t *testing.T) {
	replayFixtures(t, entraTraffic(), dynamoStores)
}

// encodeQuery percent-encodes the query of a path written as Microsoft
// documents it, e.g. /Users?filter=userName eq "x", the way a client sends
// it on the wire (spaces as %20, RFC 3986).
func encodeQuery(path string) string {
	p, query, ok := strings.Cut(path, "?")
	if !ok {
		return path
	}
	params := strings.Split(query, "&")
	for i, param := range params {
		k, v, _ := strings.Cut(param, "=")
		params[i] = escapeQueryPart(k) + "=" + escapeQueryPart(v)
	}
	return p + "?" + strings.Join(params, "&")
}

func escapeQueryPart(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func TestEntraEncodeQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/Users", "/Users"},
		{`/Users?filter=userName eq "a b"`, "/Users?filter=userName%20eq%20%22a%20b%22"},
		{`/Groups?excludedAttributes=members&filter=displayName eq "x+y"`, "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22x%2By%22"},
		{`/Users?filter=emails[type eq "work"].value eq "a@b.c"`, "/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22a%40b.c%22"},
	}
	for _, tt := range tests {
		if got := encodeQuery(tt.in); got != tt.want {
			t.Errorf("encodeQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// What the server decodes must be what the fixture says.
		if _, q, ok := strings.Cut(tt.in, "?"); ok {
			u, err := url.Parse(encodeQuery(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			for _, param := range strings.Split(q, "&") {
				k, v, _ := strings.Cut(param, "=")
				if got := u.Query().Get(k); got != v {
					t.Errorf("%q: server reads %s=%q, want %q", tt.in, k, got, v)
				}
			}
		}
	}
}

package httpapi_test

import "testing"

// oktaFixtures holds the traffic Okta's SCIM 2.0 reference documents, one
// scenario per file; testdata/okta/README.md describes the format and where
// each request comes from. Okta's pages print paths percent-encoded, so the
// fixtures send them as written.
const oktaFixtures = "../../testdata/okta"

func oktaTraffic() fixtureSet { return fixtureSet{dir: oktaFixtures} }

func TestOktaReplayEmbeddedStore(t *testing.T) {
	replayFixtures(t, oktaTraffic(), sqliteStores)
}

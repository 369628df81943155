package httpapi_test

import (
	"os"
	"testing"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/dynamotest"
)

// moto is one moto_server for the package's DynamoDB tests, started by the
// first test that needs it.
var moto dynamotest.Shared

func TestMain(m *testing.M) { os.Exit(moto.Run(m)) }

// dynamoStores is the DynamoDB store on a table of the test's own, created
// with dynamostore.CreateTable on moto_server. Without moto_server the test
// is skipped, or fails under CI=true (see dynamotest).
func dynamoStores(t *testing.T) stores {
	t.Helper()
	srv := moto.Server(t)
	client := srv.Client(t)
	st := dynamostore.New(client, srv.NewTable(t, client))
	return stores{resources: st, tokens: st}
}

// TestOktaReplayDynamoDB replays the Okta traffic on the store Lambda uses,
// so that both stores answer Okta identically.
func TestOktaReplayDynamoDB(t *testing.T) {
	replayFixtures(t, oktaTraffic(), dynamoStores)
}

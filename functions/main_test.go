// The tests of this directory check the deployment against the code: the
// SAM template against httpapi.Routes() and dynamostore's table
// (template_test.go), each function's IAM actions against the DynamoDB calls
// its handler makes (permissions_test.go), and the real bootstrap binaries
// under the Lambda Runtime Interface Emulator (emulator_test.go), both
// replaying every event of events/ (replay_test.go).
package functions_test

import (
	"os"
	"testing"

	"github.com/scimgate/scimgate/pkg/dynamotest"
)

// moto is the one moto_server of this test binary, as pkg/dynamotest prescribes.
var moto dynamotest.Shared

func TestMain(m *testing.M) {
	code := moto.Run(m)
	removeBuilds()
	os.Exit(code)
}

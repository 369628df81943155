package functions_test

import (
	"testing"

	"github.com/scimgate/scimgate/pkg/dynamotest"
)

// setLambdaEnv gives the test the environment a function's wiring reads
// on Lambda, pointed at srv: its DynamoDB endpoint, a region, static
// credentials, and no profile or instance metadata to fall back on.
func setLambdaEnv(t *testing.T, srv *dynamotest.Server) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": srv.Endpoint(), "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local",
		"AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

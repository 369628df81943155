package lambdaapi

import (
	"net/http"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// IAMCaller returns the ARN of the IAM identity API Gateway authenticated
// the request with (a route with the AWS_IAM authorizer puts it in the
// event's requestContext.authorizer.iam), for a request Handler built from
// an event. ok is false when the event carries no IAM identity: the route
// has no IAM authorizer, or the request did not come through API Gateway.
func IAMCaller(r *http.Request) (arn string, ok bool) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.IAM == nil {
		return "", false
	}
	iam := rc.Authorizer.IAM
	switch {
	case iam.UserARN != "":
		return iam.UserARN, true
	case iam.AccountID != "" && iam.CallerID != "":
		return "arn:aws:iam::" + iam.AccountID + ":caller/" + iam.CallerID, true
	}
	return "", false
}

// Command users is the UsersFunction Lambda function: SCIM /Users, /Users/{id}
// and /Users/.search.
package main

import (
	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/pkg/httpapi"
)

func main() { lambdamain.Run(httpapi.UsersResource) }

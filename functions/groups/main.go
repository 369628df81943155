// Command groups is the GroupsFunction Lambda function: SCIM /Groups,
// /Groups/{id} and /Groups/.search.
package main

import (
	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/pkg/httpapi"
)

func main() { lambdamain.Run(httpapi.GroupsResource) }

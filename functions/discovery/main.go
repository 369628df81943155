// Command discovery is the DiscoveryFunction Lambda function: the SCIM
// discovery endpoints (/ServiceProviderConfig, /Schemas, /ResourceTypes) and
// the SCIM 404 for every path under /scim/v2 that no other function serves.
package main

import (
	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/pkg/httpapi"
)

func main() { lambdamain.Run(httpapi.DiscoveryResource) }

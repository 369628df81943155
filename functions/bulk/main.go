// Command bulk is the BulkFunction Lambda function: SCIM /Bulk and the root
// /.search, the requests that span users and groups.
package main

import (
	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/pkg/httpapi"
)

func main() { lambdamain.Run(httpapi.BulkResource) }

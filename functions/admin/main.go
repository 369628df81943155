// Command admin is the AdminFunction Lambda function: the admin API under
// /admin/v1 (connections, tokens, read-only SCIM views), behind the AWS_IAM
// authorizer of its routes.
package main

import "github.com/scimgate/scimgate/functions/internal/lambdamain"

func main() { lambdamain.RunAdmin() }

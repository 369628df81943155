// Command reconcile is the ReconcileFunction Lambda function: on a schedule,
// every connection linked to its IdP is compared with the IdP's own API and,
// where its policy says repair, the revoking repairs are applied. Invoked
// with {"tenant","sso","repair","max_deactivate"} it runs one connection and
// returns the report. It is the only function that may read the links'
// secrets.
package main

import "github.com/scimgate/scimgate/functions/internal/reconcilemain"

func main() { reconcilemain.Run() }

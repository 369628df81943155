// Command check is the CheckFunction Lambda function: the daily
// reconciliation check of every connection, reporting the Drift metric.
package main

import "github.com/scimgate/scimgate/functions/internal/checkmain"

func main() { checkmain.Run() }

// Command webhooks is the WebhooksFunction Lambda function: every minute it
// runs the webhook delivery engine against the table (docs/events.md, "A
// consumer's journey").
package main

import "github.com/scimgate/scimgate/functions/internal/webhooksmain"

func main() { webhooksmain.Run() }

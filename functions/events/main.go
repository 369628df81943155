// Command events is the EventsFunction Lambda function: it consumes the
// table's DynamoDB stream, filtered to change records, and publishes each
// record to the stack's EventBridge bus (docs/events.md).
package main

import "github.com/scimgate/scimgate/functions/internal/eventsmain"

func main() { eventsmain.Run() }

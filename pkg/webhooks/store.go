// Package webhooks is the domain of webhook endpoints as managed objects:
// the endpoint (URL, event types, connections, Standard Webhooks secrets,
// enabled), its delivery positions, dead letters and delivery log, the
// store interface both stores implement, and the delivery engine that runs
// inside `scimgate serve` and in the webhooks Lambda function alike.
// docs/events.md ("A consumer's journey") is its contract.
package webhooks

import (
	"context"
	"time"
)

// Item is one stored piece of webhook state: an opaque body under a key
// within a partition. Keeping the adapters at this level means both stores
// implement four small methods, and every rule (what an endpoint is, how a
// position moves, what expires) lives here, once.
type Item struct {
	Key  string
	Body []byte
	// Expires, when set, is when the item may be dropped (the delivery
	// log's retention): DynamoDB's TTL on AWS, the engine's prune locally.
	Expires time.Time
}

// Store keeps webhook items. Partitions are named by this package
// (PartitionEndpoints, and one per endpoint).
type Store interface {
	// PutWebhookItem creates or replaces the item at (partition, item.Key).
	PutWebhookItem(ctx context.Context, partition string, item Item) error
	// GetWebhookItem returns the item, or an error with scim.ENotFound.
	GetWebhookItem(ctx context.Context, partition, key string) (Item, error)
	// ListWebhookItems returns up to limit items whose keys start with
	// prefix and sort after after, in ascending key order; expired items
	// may be among them (the caller filters).
	ListWebhookItems(ctx context.Context, partition, prefix, after string, limit int) ([]Item, error)
	// DeleteWebhookItem deletes the item; deleting a missing item is no error.
	DeleteWebhookItem(ctx context.Context, partition, key string) error
}

// PartitionEndpoints holds one item per endpoint, keyed by its id.
const PartitionEndpoints = "endpoints"

// endpointPartition holds an endpoint's positions ("pos/tenant/sso"), dead
// letters ("dl/recordID") and delivery log ("log/time/recordID/attempt").
func endpointPartition(id string) string { return "endpoint/" + id }

const (
	prefixPosition   = "pos/"
	prefixDeadLetter = "dl/"
	prefixLog        = "log/"
	prefixState      = "state"
)

// Package dynamostore is the DynamoDB implementation of scim.Store and
// auth.ConnectionStore: one table, single-table design, no Scan and no index.
// docs/dynamodb.md describes the items and what every access pattern costs.
package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/scim"
)

// API is the part of the DynamoDB client the store uses, so that a caller
// can wrap it (tracing, fault injection). *dynamodb.Client satisfies it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store keeps every connection's users, groups, memberships and tokens in one table.
type Store struct {
	db    API
	table string
	// conflictAttempts and conflictBase bound the retries of a transaction
	// that DynamoDB cancelled with TransactionConflict (another transaction
	// touched one of its items at the same time, typically the per-connection
	// counter during bulk provisioning). Every write is conditional, so
	// running it again is safe.
	conflictAttempts int
	conflictBase     time.Duration
	// retryBound bounds the time spent retrying one write after conflicts
	// or lost races (scim.RetryBound); beyond it the answer is 503.
	retryBound time.Duration
	// memberReadLimit is how many members a group read returns at most
	// (scim.MaxGroupMembers+1, see scim.Store).
	memberReadLimit int
	// maxItems is the most items the store puts in one transaction:
	// DynamoDB's limit, lowered only by tests to exercise chunking cheaply.
	maxItems int
	// updates queues this process's updates of one resource (Update);
	// intents its helpers of one intent (rollForward), which an Update may
	// run while it holds its own lock, hence a lock family of their own.
	updates, intents *stripedLock
}

// Option configures a Store.
type Option func(*Store)

// WithConflictRetry sets how often a transaction cancelled by a
// TransactionConflict is tried in all, and the base of its jittered
// exponential backoff.
func WithConflictRetry(attempts int, base time.Duration) Option {
	return func(s *Store) {
		s.conflictAttempts = max(attempts, 1)
		s.conflictBase = base
	}
}

// WithRetryBound changes how long conflicts and lost races are retried
// before the store answers scim.EUnavailable.
func WithRetryBound(d time.Duration) Option { return func(s *Store) { s.retryBound = d } }

// WithMemberReadLimit changes how many members a group read returns at
// most; tests use it to exercise the bound without ten thousand members.
func WithMemberReadLimit(n int) Option { return func(s *Store) { s.memberReadLimit = n } }

// New returns a store on table, which must exist (see CreateTable).
func New(db API, table string, opts ...Option) *Store {
	s := &Store{db: classifying(db), table: table, conflictAttempts: 1 << 20, conflictBase: 10 * time.Millisecond, retryBound: scim.RetryBound, memberReadLimit: scim.MaxGroupMembers + 1, updates: &stripedLock{}, intents: &stripedLock{}, maxItems: maxTransactItems}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Attribute names of the table's items (docs/dynamodb.md).
const (
	attrPK       = "pk"
	attrSK       = "sk"
	attrType     = "typ"
	attrID       = "id"
	attrName     = "name"
	attrExt      = "ext"
	attrActive   = "active"
	attrVersion  = "ver"
	attrCreated  = "created"
	attrModified = "modified"
	attrDoc      = "doc"
	attrGroups   = "grp"
	attrOwner    = "owner"
	attrCount    = "n"
	attrDisplay  = "display"
	attrDeleted  = "deleted"
	attrTenant   = "tenant"
	attrSSO      = "sso"
)

// maxKeyBytes is DynamoDB's limit for a sort key value.
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-partition-sort-keys
const maxKeyBytes = 1024

// connPK is the partition of one connection. Connection.Validate restricts
// both ids to [a-z0-9-], so "#" cannot appear inside them and two
// connections can never share a partition.
func connPK(conn scim.Connection) (string, error) {
	if err := conn.Validate(); err != nil {
		return "", err
	}
	return "C#" + conn.Tenant + "#" + conn.SSO, nil
}

// membersPK is the partition holding one group's member items.
func membersPK(conn scim.Connection, groupID string) string {
	return "M#" + conn.Tenant + "#" + conn.SSO + "#" + groupID
}

func typeLetter(typ scim.ResourceType) string {
	if typ == scim.GroupResource {
		return "G"
	}
	return "U"
}

func resourceSK(typ scim.ResourceType, id string) string { return typeLetter(typ) + "#" + id }
func archiveSK(typ scim.ResourceType, id string) string  { return "X" + typeLetter(typ) + "#" + id }
func nameGuardSK(typ scim.ResourceType, name string) string {
	return typeLetter(typ) + "N#" + scim.NameKey(typ, name)
}
func extGuardSK(typ scim.ResourceType, ext string) string { return typeLetter(typ) + "X#" + ext }

// counterShards spreads a connection's resource count over 16 items, so that
// concurrent creates (an IdP's first sync) rarely touch the same item:
// DynamoDB cancels concurrent transactions on one item with
// TransactionConflict. A list sums them with one Query.
const counterShards = 16

// counterPrefix is the sort-key prefix of typ's counter shards.
func counterPrefix(typ scim.ResourceType) string { return "N#" + typeLetter(typ) + "#" }

// counterSK is the counter shard that the resource id counts in.
func counterSK(typ scim.ResourceType, id string) string {
	// CRC-32 spreads even ids that differ in a single character evenly.
	return fmt.Sprintf("%s%x", counterPrefix(typ), crc32.ChecksumIEEE([]byte(id))%counterShards)
}

const connectionSK = "CONN"

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
func strSet(v ...string) types.AttributeValue {
	return &types.AttributeValueMemberSS{Value: v}
}

// record is a live or archived user or group item.
type record struct {
	PK       string   `dynamodbav:"pk"`
	SK       string   `dynamodbav:"sk"`
	Type     string   `dynamodbav:"typ"`
	ID       string   `dynamodbav:"id"`
	Name     string   `dynamodbav:"name"`
	Ext      string   `dynamodbav:"ext,omitempty"`
	Active   bool     `dynamodbav:"active"`
	Version  int64    `dynamodbav:"ver"`
	Created  string   `dynamodbav:"created"`
	Modified string   `dynamodbav:"modified"`
	Doc      string   `dynamodbav:"doc"`
	Groups   []string `dynamodbav:"grp,stringset,omitempty"`
	Deleted  string   `dynamodbav:"deleted,omitempty"`
	// Pend is the token of an open membership intent of a group (intent.go).
	Pend string `dynamodbav:"pend,omitempty"`
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// newRecord is the live item of r. Groups are not taken from r: the grp set
// is maintained only by membership changes.
func newRecord(pk string, r *scim.Resource) (*record, error) {
	doc, err := json.Marshal(r.Attributes)
	if err != nil {
		return nil, fmt.Errorf("encode attributes of %s: %w", r, err)
	}
	return &record{
		PK: pk, SK: resourceSK(r.Type, r.ID), Type: string(r.Type), ID: r.ID,
		Name: r.Name, Ext: r.ExternalID, Active: r.Active, Version: r.Version,
		Created: formatTime(r.Created), Modified: formatTime(r.LastModified), Doc: string(doc),
	}, nil
}

func decodeRecord(item map[string]types.AttributeValue) (*record, error) {
	var rec record
	if err := unmarshal(item, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

func unmarshal(item map[string]types.AttributeValue, out any) error {
	if err := attributevalue.UnmarshalMap(item, out); err != nil {
		return fmt.Errorf("decode item: %w", err)
	}
	return nil
}

func (rec *record) resource(conn scim.Connection) (*scim.Resource, error) {
	created, err := time.Parse(time.RFC3339Nano, rec.Created)
	if err != nil {
		return nil, fmt.Errorf("decode created of %s: %w", rec.SK, err)
	}
	modified, err := time.Parse(time.RFC3339Nano, rec.Modified)
	if err != nil {
		return nil, fmt.Errorf("decode modified of %s: %w", rec.SK, err)
	}
	var attrs map[string]any
	if err := json.Unmarshal([]byte(rec.Doc), &attrs); err != nil {
		return nil, fmt.Errorf("decode doc of %s: %w", rec.SK, err)
	}
	r := &scim.Resource{
		Conn: conn, Type: scim.ResourceType(rec.Type), ID: rec.ID, Version: rec.Version,
		Created: created, LastModified: modified,
		Name: rec.Name, ExternalID: rec.Ext, Active: rec.Active, Attributes: attrs,
	}
	if r.Type == scim.UserResource {
		r.Groups = slices.Sorted(slices.Values(rec.Groups))
		if r.Groups == nil {
			r.Groups = []string{}
		}
	}
	return r, nil
}

func (s *Store) tableName() *string { return aws.String(s.table) }

// names builds ExpressionAttributeNames "#x" -> "x": every attribute is
// referenced through a placeholder so that none can collide with one of
// DynamoDB's reserved words (name, count, ...).
func names(attrs ...string) map[string]string {
	m := make(map[string]string, len(attrs))
	for _, a := range attrs {
		m["#"+a] = a
	}
	return m
}

// Package dynamocost meters the DynamoDB request units a client's calls would
// be billed, for benchmarks and cost tests. It is a package of its own so
// that no Lambda function links it (or compiles its expressions at start).
package dynamocost

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/scimgate/scimgate/pkg/dynamostore"
)

// CapacityMeter computes the read and write request units (RRU, WRU) that
// on-demand DynamoDB would bill for each call a client makes, from the sizes
// of the items the call touches and DynamoDB's published rounding rules:
//
//   - a strongly consistent read: 1 RRU per 4 KB of the item, at least 1
//     (also for an item that does not exist); a Query: the sizes of all items
//     it reads (before any projection or COUNT), summed, then rounded up to
//     4 KB; BatchGetItem: each item rounded on its own;
//   - a write: 1 WRU per 1 KB of the larger of the item before and after
//     (PutItem, UpdateItem), of the item deleted (DeleteItem), at least 1;
//   - a transaction: twice that for each of its items (DynamoDB prepares and
//     commits every item), a ConditionCheck billed as a transactional read;
//   - item size: the UTF-8 lengths of attribute names and strings, numbers at
//     1 byte per 2 significant digits + 1, booleans and nulls 1 byte, maps
//     and lists 3 bytes plus their elements (lists 1 byte more per element).
//
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html,
// .../CapacityUnitCalculations.html, .../transaction-apis.html#transaction-capacity-handling.)
//
// It is for benchmarks: the local DynamoDB used in tests (moto) reports
// ConsumedCapacity as fixed values (0.5 per GetItem, 1 per Put, nothing for
// transactions) whatever the item size, so the units are computed here
// instead. To learn item sizes it reads the full items through raw, a client
// without the meter (and without any call counter), before and after each
// write and again for each read.
type CapacityMeter struct {
	raw   dynamostore.API
	table string

	mu       sync.Mutex
	rru, wru float64
}

// NewCapacityMeter meters calls on table, reading item sizes through raw.
func NewCapacityMeter(raw dynamostore.API, table string) *CapacityMeter {
	return &CapacityMeter{raw: raw, table: table}
}

// ClientOption installs the meter on a client.
func (m *CapacityMeter) ClientOption() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("scimgateCapacityMeter", m.handle), middleware.After)
		})
	}
}

// Units returns the request units counted so far.
func (m *CapacityMeter) Units() (rru, wru float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rru, m.wru
}

// Reset sets both counts back to zero.
func (m *CapacityMeter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rru, m.wru = 0, 0
}

func (m *CapacityMeter) add(rru, wru float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rru += rru
	m.wru += wru
}

func (m *CapacityMeter) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	// Writes: item sizes before the call.
	var writes []writeUnit
	switch p := in.Parameters.(type) {
	case *dynamodb.PutItemInput:
		writes = []writeUnit{{key: keyOf(p.Item), factor: 1}}
	case *dynamodb.UpdateItemInput:
		writes = []writeUnit{{key: p.Key, factor: 1}}
	case *dynamodb.DeleteItemInput:
		writes = []writeUnit{{key: p.Key, factor: 1}}
	case *dynamodb.BatchWriteItemInput:
		for _, reqs := range p.RequestItems {
			for _, r := range reqs {
				if r.PutRequest != nil {
					writes = append(writes, writeUnit{key: keyOf(r.PutRequest.Item), factor: 1})
				} else if r.DeleteRequest != nil {
					writes = append(writes, writeUnit{key: r.DeleteRequest.Key, factor: 1})
				}
			}
		}
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range p.TransactItems {
			switch {
			case it.Put != nil:
				writes = append(writes, writeUnit{key: keyOf(it.Put.Item), factor: 2})
			case it.Update != nil:
				writes = append(writes, writeUnit{key: it.Update.Key, factor: 2})
			case it.Delete != nil:
				writes = append(writes, writeUnit{key: it.Delete.Key, factor: 2})
			case it.ConditionCheck != nil:
				writes = append(writes, writeUnit{key: it.ConditionCheck.Key, factor: 2, read: true})
			}
		}
	}
	for i := range writes {
		size, err := m.itemSize(ctx, writes[i].key)
		if err != nil {
			return middleware.InitializeOutput{}, middleware.Metadata{}, err
		}
		writes[i].before = size
	}

	out, md, callErr := next.HandleInitialize(ctx, in)

	var rru, wru float64
	for _, w := range writes {
		if w.read {
			rru += w.factor * readUnits(w.before)
			continue
		}
		after, err := m.itemSize(ctx, w.key)
		if err != nil {
			return out, md, err
		}
		wru += w.factor * writeUnits(max(w.before, after))
	}
	switch p := in.Parameters.(type) {
	case *dynamodb.GetItemInput:
		size, err := m.itemSize(ctx, p.Key)
		if err != nil {
			return out, md, err
		}
		rru += readUnits(size)
	case *dynamodb.BatchGetItemInput:
		for _, ka := range p.RequestItems {
			for _, k := range ka.Keys {
				size, err := m.itemSize(ctx, k)
				if err != nil {
					return out, md, err
				}
				rru += readUnits(size)
			}
		}
	case *dynamodb.TransactGetItemsInput:
		for _, it := range p.TransactItems {
			if it.Get != nil {
				size, err := m.itemSize(ctx, it.Get.Key)
				if err != nil {
					return out, md, err
				}
				rru += 2 * readUnits(size)
			}
		}
	case *dynamodb.QueryInput:
		if callErr == nil {
			size, err := m.querySize(ctx, p)
			if err != nil {
				return out, md, err
			}
			rru += readUnits(size)
		}
	}
	m.add(rru, wru)
	return out, md, callErr
}

// writeUnit is one item a write call touches.
type writeUnit struct {
	key    map[string]types.AttributeValue
	factor float64 // 2 in a transaction
	read   bool    // a ConditionCheck
	before int
}

func readUnits(size int) float64  { return max(1, math.Ceil(float64(size)/4096)) }
func writeUnits(size int) float64 { return max(1, math.Ceil(float64(size)/1024)) }

// The table's key attributes (dynamostore's schema, docs/data-model.md).
const (
	attrPK = "pk"
	attrSK = "sk"
)

func keyOf(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]}
}

// itemSize is the size of the stored item at key, 0 if there is none.
func (m *CapacityMeter) itemSize(ctx context.Context, key map[string]types.AttributeValue) (int, error) {
	out, err := m.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(m.table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, fmt.Errorf("capacity meter: read item size: %w", err)
	}
	return ItemSize(out.Item), nil
}

var placeholder = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)

// querySize repeats the page a Query read, without projection, COUNT or
// filter (DynamoDB bills the items read before those apply), and sums the
// items' sizes.
func (m *CapacityMeter) querySize(ctx context.Context, p *dynamodb.QueryInput) (int, error) {
	used := map[string]bool{}
	for _, ph := range placeholder.FindAllString(aws.ToString(p.KeyConditionExpression), -1) {
		used[ph] = true
	}
	names := map[string]string{}
	for k, v := range p.ExpressionAttributeNames {
		if used[k] {
			names[k] = v
		}
	}
	values := map[string]types.AttributeValue{}
	for k, v := range p.ExpressionAttributeValues {
		if used[k] {
			values[k] = v
		}
	}
	in := &dynamodb.QueryInput{
		TableName: p.TableName, KeyConditionExpression: p.KeyConditionExpression,
		ExpressionAttributeValues: values, ExclusiveStartKey: p.ExclusiveStartKey, Limit: p.Limit,
		ScanIndexForward: p.ScanIndexForward, ConsistentRead: aws.Bool(true),
	}
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	out, err := m.raw.Query(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("capacity meter: repeat query: %w", err)
	}
	size := 0
	for _, item := range out.Items {
		size += ItemSize(item)
	}
	return size, nil
}

// ItemSize is an item's size by DynamoDB's rules (see CapacityMeter); the
// store sizes its change records with the same function.
func ItemSize(item map[string]types.AttributeValue) int { return dynamostore.ItemSize(item) }

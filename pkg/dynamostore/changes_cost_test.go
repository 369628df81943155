package dynamostore_test

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/scimgate/scimgate/pkg/dynamocost"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
)

// writeMeter records, per DynamoDB request, the items written and whether
// in a transaction, so that write units can be computed as DynamoDB
// charges them: ceil(item KB) per item, doubled in a transaction
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
type writeMeter struct {
	mu       sync.Mutex
	requests int
	writes   []meteredWrite
	// batchReads are the keys BatchGetItem read (consistently: 1 RCU per
	// 4 KB of each item), priced after the call like updated items.
	batchReads []map[string]types.AttributeValue
}

type meteredWrite struct {
	key         map[string]types.AttributeValue
	transaction bool
	size        int // bytes of a Put's item; -1: read the item after the call (Update), 0: a Delete
}

func (m *writeMeter) option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("meterWrites",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					m.record(in.Parameters)
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	}
}

func (m *writeMeter) record(params any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	switch in := params.(type) {
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				m.writes = append(m.writes, meteredWrite{key: keyOf(it.Put.Item), transaction: true, size: dynamocost.ItemSize(it.Put.Item)})
			case it.Update != nil:
				m.writes = append(m.writes, meteredWrite{key: it.Update.Key, transaction: true, size: -1})
			case it.Delete != nil:
				m.writes = append(m.writes, meteredWrite{key: it.Delete.Key, transaction: true})
			case it.ConditionCheck != nil:
				// A condition check costs like a write of its item in a transaction.
				m.writes = append(m.writes, meteredWrite{key: it.ConditionCheck.Key, transaction: true, size: -1})
			}
		}
	case *dynamodb.UpdateItemInput:
		m.writes = append(m.writes, meteredWrite{key: in.Key, size: -1})
	case *dynamodb.PutItemInput:
		m.writes = append(m.writes, meteredWrite{key: keyOf(in.Item), size: dynamocost.ItemSize(in.Item)})
	case *dynamodb.DeleteItemInput:
		m.writes = append(m.writes, meteredWrite{key: in.Key})
	case *dynamodb.BatchGetItemInput:
		for _, ka := range in.RequestItems {
			m.batchReads = append(m.batchReads, ka.Keys...)
		}
	}
}

func (m *writeMeter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests, m.writes, m.batchReads = 0, nil, nil
}

func keyOf(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": item["pk"], "sk": item["sk"]}
}

// itemSize is DynamoDB's item size: attribute names plus values
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
// cost is what one SCIM operation cost.
type cost struct {
	requests, txItems int
	wcu               int
	batchRCU          int // read units of BatchGetItem
}

// measure runs op and prices its writes, reading updated items afterwards
// (with the unmetered client) for their size.
func (m *writeMeter) measure(t *testing.T, raw *dynamodb.Client, table string, op func() error) cost {
	t.Helper()
	m.reset()
	if err := op(); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	writes := append([]meteredWrite(nil), m.writes...)
	reads := append([]map[string]types.AttributeValue(nil), m.batchReads...)
	c := cost{requests: m.requests}
	m.mu.Unlock()
	for _, k := range reads {
		out, err := raw.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: k})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Item) > 0 {
			c.batchRCU += max(1, int(math.Ceil(float64(dynamostore.ItemSize(out.Item))/4096)))
		}
	}
	for _, w := range writes {
		size := w.size
		if size < 0 {
			out, err := raw.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: w.key})
			if err != nil {
				t.Fatal(err)
			}
			size = dynamocost.ItemSize(out.Item)
		}
		units := max(1, int(math.Ceil(float64(size)/1024)))
		if w.transaction {
			units *= 2
			c.txItems++
		}
		c.wcu += units
	}
	return c
}

// TestChangeFeedCostPerSCIMOperation prices each SCIM write on DynamoDB
// with the change feed off and on (docs/events.md, "Cost"), and holds the
// feed to its target: at most one extra transaction item per change (one
// per record of a membership change) and no extra request, except the one
// BatchGetItem of a small membership change that reads the members'
// summaries (a large one reads them in the verification it makes anyway).
func TestChangeFeedCostPerSCIMOperation(t *testing.T) {
	srv := moto.Server(t)
	meter := &writeMeter{}
	client := srv.Client(t, meter.option())
	raw := srv.Client(t)
	ctx := context.Background()

	type row struct {
		name    string
		records int // change records the operation writes
		// summaryReads is the extra requests the records need: the
		// BatchGetItem reading the summaries of the members of a change
		// small enough for one transaction, which reads no user otherwise.
		summaryReads int
		op           func(svc *scim.Service, conn scim.Connection) func() error
	}
	user := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada%d@example.com","externalId":"00u%d","name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada%d@example.com","type":"work","primary":true}],"active":true}`
	var ids sync.Map
	rows := []row{
		{"POST /Users", 1, 0, func(svc *scim.Service, conn scim.Connection) func() error {
			return func() error {
				res, err := svc.Create(ctx, conn, scim.UserResource, []byte(fmt.Sprintf(user, 1, 1, 1)))
				if err == nil {
					ids.Store(conn.SSO+"user", res.Resource.ID)
				}
				return err
			}
		}},
		{"PATCH /Users (active=false)", 1, 0, func(svc *scim.Service, conn scim.Connection) func() error {
			return func() error {
				id, _ := ids.Load(conn.SSO + "user")
				_, err := svc.Patch(ctx, conn, scim.UserResource, id.(string), []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`), scim.Precondition{})
				return err
			}
		}},
		{"POST /Groups", 1, 0, func(svc *scim.Service, conn scim.Connection) func() error {
			return func() error {
				res, err := svc.Create(ctx, conn, scim.GroupResource, []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering"}`))
				if err == nil {
					ids.Store(conn.SSO+"group", res.Resource.ID)
				}
				return err
			}
		}},
		{"PATCH /Groups add 1 member", 1, 1, func(svc *scim.Service, conn scim.Connection) func() error {
			return func() error {
				gid, _ := ids.Load(conn.SSO + "group")
				uid, _ := ids.Load(conn.SSO + "user")
				_, err := svc.Patch(ctx, conn, scim.GroupResource, gid.(string), []byte(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, uid)), scim.Precondition{})
				return err
			}
		}},
		{"PATCH /Groups add 60 members", 2, 0, func(svc *scim.Service, conn scim.Connection) func() error {
			// 60 users first (not measured); the change needs 2 chunks of at most 48.
			var members []string
			for i := 0; i < 60; i++ {
				res, err := svc.Create(ctx, conn, scim.UserResource, []byte(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"m%d@example.com"}`, i)))
				if err != nil {
					t.Fatal(err)
				}
				members = append(members, fmt.Sprintf(`{"value":%q}`, res.Resource.ID))
			}
			return func() error {
				gid, _ := ids.Load(conn.SSO + "group")
				_, err := svc.Patch(ctx, conn, scim.GroupResource, gid.(string), []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[`+strings.Join(members, ",")+`]}]}`), scim.Precondition{})
				return err
			}
		}},
		{"DELETE /Groups (61 members)", 1, 0, func(svc *scim.Service, conn scim.Connection) func() error {
			return func() error {
				gid, _ := ids.Load(conn.SSO + "group")
				return svc.Delete(ctx, conn, scim.GroupResource, gid.(string), scim.Precondition{})
			}
		}},
		{"DELETE /Users", 1, 0, func(svc *scim.Service, conn scim.Connection) func() error {
			return func() error {
				uid, _ := ids.Load(conn.SSO + "user")
				return svc.Delete(ctx, conn, scim.UserResource, uid.(string), scim.Precondition{})
			}
		}},
	}
	results := map[string][2]cost{}
	for i, feed := range []bool{false, true} {
		// A table per run: moto copies the whole table for every transaction.
		table := srv.NewTable(t, raw)
		conn := scim.Connection{Tenant: "cost", SSO: fmt.Sprintf("feed-%v", feed)}
		svc := scim.NewService(dynamostore.New(client, table), scim.WithChangeFeed(feed))
		for _, r := range rows {
			c := meter.measure(t, raw, table, r.op(svc, conn))
			res := results[r.name]
			res[i] = c
			results[r.name] = res
		}
	}
	var lines []string
	for _, r := range rows {
		before, after := results[r.name][0], results[r.name][1]
		lines = append(lines, fmt.Sprintf("%-30s requests %d -> %d   transaction items %2d -> %2d   WCU %2d -> %2d   BatchGetItem RCU %2d -> %2d",
			r.name, before.requests, after.requests, before.txItems, after.txItems, before.wcu, after.wcu, before.batchRCU, after.batchRCU))
		if after.requests != before.requests+r.summaryReads {
			t.Errorf("%s: %d DynamoDB requests with the feed, %d without: the feed must add no round trip but %d summary read(s)", r.name, after.requests, before.requests, r.summaryReads)
		}
		if extra := after.txItems - before.txItems; extra > r.records && !(before.txItems == 0 && extra == r.records+1) {
			t.Errorf("%s: %d more transaction items with the feed, want at most %d (its records)", r.name, extra, r.records)
		}
	}
	sort.Strings(lines[:0])
	t.Logf("DynamoDB cost per SCIM operation, change feed off -> on:\n%s", strings.Join(lines, "\n"))
}

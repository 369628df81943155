package dynamostore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

// BenchmarkStoreCalls reports the DynamoDB calls each store method makes
// (ddbcalls/op), the number that decides the request cost on AWS; the
// time per op only measures moto. Run:
//
//	go test ./pkg/dynamostore/ -run '^$' -bench StoreCalls -benchtime 20x
func BenchmarkStoreCalls(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	users := e.users(b, 100)
	named := e.mustCreate(b, e.resource(scim.UserResource, "named@example.com", "00u-named"))
	group := e.mustCreate(b, e.resource(scim.GroupResource, "Engineering", ""))
	created := 0
	secret, err := auth.Issue(ctx, e.store, e.conn, e.now)
	if err != nil {
		b.Fatal(err)
	}

	benchmarks := []struct {
		name string
		op   func(i int) error
	}{
		{"Get", func(int) error {
			_, err := e.store.Get(ctx, e.conn, scim.UserResource, users[0].ID, false)
			return err
		}},
		{"FindByName", func(int) error {
			_, err := e.store.FindByName(ctx, e.conn, scim.UserResource, "NAMED@example.com", false)
			return err
		}},
		{"Create", func(int) error {
			created++
			return e.store.Create(ctx, e.resource(scim.UserResource, fmt.Sprintf("bench%d@example.com", created), ""))
		}},
		{"Replace", func(int) error {
			n := next(e, named)
			err := e.store.Replace(ctx, n, named.Version)
			named = n
			return err
		}},
		{"ModifyMembers_add_1", func(i int) error {
			n := next(e, group)
			err := e.store.ModifyMembers(ctx, n, group.Version, asMembers(users[i%len(users):][:1]), nil)
			group = n
			return err
		}},
		// Adding members again finds them present with one BatchGetItem of the member items and writes nothing.
		{"ModifyMembers_add_100", func(int) error {
			n := next(e, group)
			err := e.store.ModifyMembers(ctx, n, group.Version, asMembers(users), nil)
			group = n
			return err
		}},
		// What every SCIM request adds; the last-used write comes at most
		// once per token per auth.LastUsedGranularity on top.
		{"Authenticate", func(int) error {
			_, err := auth.Authenticate(ctx, e.store, "Bearer "+secret, e.conn, e.now)
			return err
		}},
		{"List_50_users", func(int) error {
			_, err := e.store.List(ctx, e.conn, scim.UserResource, scim.ListOptions{Limit: 50})
			return err
		}},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			calls, n := 0, 0
			for b.Loop() {
				before := e.counter.Total()
				if err := bm.op(n); err != nil {
					b.Fatalf("%s: %v", bm.name, err)
				}
				calls += e.counter.Total() - before
				n++
			}
			b.ReportMetric(float64(calls)/float64(n), "ddbcalls/op")
		})
	}
}

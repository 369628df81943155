package dynamostore_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
)

var errCrash = errors.New("injected crash: the process died here")

// crashAfter is SDK middleware that lets the first n calls through and
// fails every later one before it is sent, as if the process had died
// right after call n. committed records whether a transaction got through.
type crashAfter struct {
	n         int64
	calls     atomic.Int64
	committed atomic.Bool
}

func (c *crashAfter) option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("crashAfter",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if c.calls.Add(1) > c.n {
						return middleware.InitializeOutput{}, middleware.Metadata{}, errCrash
					}
					out, md, err := next.HandleInitialize(ctx, in)
					if err == nil && middleware.GetOperationName(ctx) == "TransactWriteItems" {
						c.committed.Store(true)
					}
					return out, md, err
				}), middleware.Before)
		})
	}
}

// crashCase is one chunked change: prepare builds fresh state and returns
// the change and the check of the state after recovery (full says whether
// the change must be complete or not have happened at all).
type crashCase struct {
	name    string
	prepare func(t *testing.T, e *env) (change func(s *dynamostore.Store) error, check func(t *testing.T, full bool))
}

// TestCrashAtEveryChunkBoundary runs each chunked change with a crash after
// call 0, 1, 2, ... until it completes, and checks after each crash that
// the next request (which rolls pending intents forward) and the sweep
// show either the whole change or none of it, never a part.
//
// By default the store's transactions are cut to 10 items and the changes
// are ten times smaller than the (15 members, 11 groups), which
// crosses as many chunk boundaries per change in seconds; with
// SCIMGATE_CRASH_FULL=1 it runs at DynamoDB's 100 items with 150 members
// and 110 groups (about ten minutes on moto).
func TestCrashAtEveryChunkBoundary(t *testing.T) {
	sz := crashSize{members: 15, groups: 11, opts: []dynamostore.Option{dynamostore.WithMaxTransactItems(10)}}
	if os.Getenv("SCIMGATE_CRASH_FULL") != "" {
		sz = crashSize{members: 150, groups: 110}
	}
	for _, tc := range crashCases(sz) {
		t.Run(tc.name, func(t *testing.T) {
			srv := moto.Server(t)
			for n := int64(0); ; n++ {
				if n > 40 {
					t.Fatalf("still not complete after %d calls", n)
				}
				// A table per run: moto copies the whole table for every
				// transaction, so a growing one would slow each run down.
				e := newEnv(t, sz.opts...)
				change, check := tc.prepare(t, e)
				crash := &crashAfter{n: n}
				crashing := dynamostore.New(srv.Client(t, crash.option()), e.table, sz.opts...)
				err := change(crashing)
				if err != nil && !errors.Is(err, errCrash) {
					t.Fatalf("crash after %d calls: %v", n, err)
				}
				full := err == nil || crash.committed.Load()
				if err == nil {
					// A change that ran to its end leaves nothing for others to finish.
					noPendingWork(t, e)
				}
				check(t, full)
				if err := e.store.Sweep(context.Background(), e.conn); err != nil {
					t.Fatalf("sweep after a crash after %d calls: %v", n, err)
				}
				check(t, full)
				noPendingWork(t, e)
				if err == nil {
					t.Logf("complete after %d calls; crashed and recovered at each of them", n)
					return
				}
			}
		})
	}
}

type crashSize struct {
	members, groups int
	opts            []dynamostore.Option
}

func crashCases(sz crashSize) []crashCase {
	m := sz.members
	ctx := context.Background()
	needUsers := func(t *testing.T, e *env, n int) []*scim.Resource { return e.users(t, n) }
	groupWith := func(t *testing.T, e *env, members []*scim.Resource) *scim.Resource {
		t.Helper()
		g := e.mustCreate(t, e.resource(scim.GroupResource, "Group "+e.id(), ""))
		if len(members) > 0 {
			if _, err := e.store.PatchMembers(ctx, e.conn, g.ID, asMembers(members), nil, e.tick()); err != nil {
				t.Fatalf("seed members: %v", err)
			}
		}
		got, err := e.store.Get(ctx, e.conn, scim.GroupResource, g.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// update renames g and changes its members in one store change.
	update := func(e *env, g *scim.Resource, add []*scim.Resource, remove []*scim.Resource) func(s *dynamostore.Store) error {
		return func(s *dynamostore.Store) error {
			_, err := s.Update(ctx, e.conn, scim.GroupResource, g.ID, false, func(cur *scim.Resource) (*scim.Change, error) {
				next := *cur
				next.Name = cur.Name + " renamed"
				next.Attributes = map[string]any{"displayName": next.Name}
				next.Version = cur.Version + 1
				var rm []string
				for _, u := range remove {
					rm = append(rm, u.ID)
				}
				return &scim.Change{Next: &next, Members: true, Add: asMembers(add), Remove: rm}, nil
			})
			return err
		}
	}
	groupCheck := func(e *env, g *scim.Resource, before, after []*scim.Resource, renamed bool) func(t *testing.T, full bool) {
		return func(t *testing.T, full bool) {
			t.Helper()
			want, name := before, g.Name
			if full {
				want = after
				if renamed {
					name += " renamed"
				}
			}
			got, err := e.store.Get(ctx, e.conn, scim.GroupResource, g.ID, true)
			if err != nil {
				t.Fatalf("get group: %v", err)
			}
			wantIDs := ids(want)
			if gotIDs := memberValues(got); !slices.Equal(gotIDs, wantIDs) || got.Name != name {
				t.Fatalf("full=%v: group %q has %d members, want %q with %d", full, got.Name, len(gotIDs), name, len(wantIDs))
			}
			for _, u := range append(slices.Clone(before), after...) {
				r, err := e.store.Get(ctx, e.conn, scim.UserResource, u.ID, false)
				if err != nil {
					t.Fatal(err)
				}
				if slices.Contains(r.Groups, g.ID) != slices.Contains(wantIDs, u.ID) {
					t.Fatalf("full=%v: user %s groups %v disagree with the members", full, u.ID, r.Groups)
				}
			}
		}
	}
	return []crashCase{
		{"PatchAddAndRename", func(t *testing.T, e *env) (func(*dynamostore.Store) error, func(*testing.T, bool)) {
			us := needUsers(t, e, m+m/15)
			g := groupWith(t, e, us[m:])
			return update(e, g, us[:m], nil), groupCheck(e, g, us[m:], us, true)
		}},
		{"PatchRemove", func(t *testing.T, e *env) (func(*dynamostore.Store) error, func(*testing.T, bool)) {
			us := needUsers(t, e, m+m/15)
			g := groupWith(t, e, us)
			return update(e, g, nil, us[:m]), groupCheck(e, g, us, us[m:], true)
		}},
		{"PatchReplaceAndRename", func(t *testing.T, e *env) (func(*dynamostore.Store) error, func(*testing.T, bool)) {
			us := needUsers(t, e, m+m/15)
			half := len(us) / 2
			g := groupWith(t, e, us[:half])
			return update(e, g, us[half:], us[:half]), groupCheck(e, g, us[:half], us[half:], true)
		}},
		{"CreateLargeGroup", func(t *testing.T, e *env) (func(*dynamostore.Store) error, func(*testing.T, bool)) {
			us := needUsers(t, e, m)
			g := e.resource(scim.GroupResource, "Created "+e.id(), "")
			g.Members = asMembers(us)
			change := func(s *dynamostore.Store) error { return s.Create(ctx, g) }
			check := func(t *testing.T, full bool) {
				t.Helper()
				got, err := e.store.Get(ctx, e.conn, scim.GroupResource, g.ID, true)
				if !full {
					if !scim.IsNotFound(err) {
						t.Fatalf("a create that never committed: %v %v", got, err)
					}
					return
				}
				if err != nil || len(got.Members) != len(us) {
					t.Fatalf("created group: %v, %v", got, err)
				}
			}
			return change, check
		}},
		{"MembershipOnlyAdd", func(t *testing.T, e *env) (func(*dynamostore.Store) error, func(*testing.T, bool)) {
			us := needUsers(t, e, m)
			g := groupWith(t, e, nil)
			change := func(s *dynamostore.Store) error {
				_, err := s.PatchMembers(ctx, e.conn, g.ID, asMembers(us), nil, e.tick())
				return err
			}
			return change, groupCheck(e, g, nil, us, false)
		}},
		{"DeleteLargeGroup", func(t *testing.T, e *env) (func(*dynamostore.Store) error, func(*testing.T, bool)) {
			us := needUsers(t, e, m)
			g := groupWith(t, e, us)
			change := func(s *dynamostore.Store) error {
				return s.Delete(ctx, e.conn, scim.GroupResource, g.ID, g.Version, e.tick())
			}
			check := func(t *testing.T, full bool) {
				t.Helper()
				if !full {
					groupCheck(e, g, us, us, false)(t, false)
					return
				}
				if _, err := e.store.Get(ctx, e.conn, scim.GroupResource, g.ID, true); !scim.IsNotFound(err) {
					t.Fatalf("deleted group: %v", err)
				}
				for _, u := range us {
					r, err := e.store.Get(ctx, e.conn, scim.UserResource, u.ID, false)
					if err != nil || slices.Contains(r.Groups, g.ID) {
						t.Fatalf("user %s still shows the deleted group: %v %v", u.ID, r, err)
					}
				}
				list, err := e.store.List(ctx, e.conn, scim.GroupResource, scim.ListOptions{Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range list.Resources {
					if r.ID == g.ID {
						t.Fatalf("the deleted group is still listed")
					}
				}
			}
			return change, check
		}},
		{"DeleteUserInManyGroups", func(t *testing.T, e *env) (func(*dynamostore.Store) error, func(*testing.T, bool)) {
			var groups []*scim.Resource
			u := e.mustCreate(t, e.resource(scim.UserResource, "leaver"+e.id()+"@example.com", ""))
			for range sz.groups {
				groups = append(groups, groupWith(t, e, []*scim.Resource{u}))
			}
			change := func(s *dynamostore.Store) error {
				return s.Delete(ctx, e.conn, scim.UserResource, u.ID, u.Version, e.tick())
			}
			check := func(t *testing.T, full bool) {
				t.Helper()
				_, err := e.store.Get(ctx, e.conn, scim.UserResource, u.ID, false)
				if full != scim.IsNotFound(err) {
					t.Fatalf("full=%v: get user: %v", full, err)
				}
				for _, g := range groups {
					r, err := e.store.Get(ctx, e.conn, scim.GroupResource, g.ID, true)
					if err != nil {
						t.Fatal(err)
					}
					if slices.Contains(memberValues(r), u.ID) == full {
						t.Fatalf("full=%v: group %s members %v", full, g.ID, memberValues(r))
					}
				}
			}
			return change, check
		}},
	}
}

// noPendingWork checks, below the store, that after a sweep nothing is
// pending and no member item points at a user or group that is gone.
func noPendingWork(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	pk := "C#" + e.conn.Tenant + "#" + e.conn.SSO
	out, err := e.client.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(e.table), KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :i)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}, ":i": &types.AttributeValueMemberS{Value: "I#"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) > 0 {
		t.Fatalf("%d intents left after the sweep", len(out.Items))
	}
	pending, err := e.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(e.table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "N#P"}}})
	if err != nil {
		t.Fatal(err)
	}
	if set, ok := pending.Item["i"].(*types.AttributeValueMemberSS); ok && len(set.Value) > 0 {
		t.Fatalf("pending set %v left after the sweep", set.Value)
	}
}

func ids(rs []*scim.Resource) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

func memberValues(r *scim.Resource) []string {
	out := []string{}
	for _, m := range r.Members {
		out = append(out, m.Value)
	}
	slices.Sort(out)
	return out
}

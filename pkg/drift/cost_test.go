package drift_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/okta/oktatest"
)

// TestRunCostOnDynamoDB measures the DynamoDB calls of a report-only run
// (docs/reconcile.md, "Costs"): it reads each user page (1,000 users), each
// group page (100 groups with members), the link, the connection, and
// writes the record and the report; nothing per user.
func TestRunCostOnDynamoDB(t *testing.T) {
	srv := moto.Server(t)
	client := srv.Client(t)
	table := srv.NewTable(t, client)
	counter := &dynamostore.CallCounter{}
	seed := dynamostore.New(client, table)
	e := newEnv(t, seed)
	const users, groups = 40, 2
	for i := range users {
		ext := fmt.Sprintf("00u%04d", i)
		e.user(t, fmt.Sprintf("u%d@example.com", i), ext, true)
		e.okta.AddUser(oktatest.AppUser{ID: ext})
	}
	for g := range groups {
		var names, members []string
		for i := g * 20; i < (g+1)*20; i++ {
			names = append(names, fmt.Sprintf("u%d@example.com", i))
			members = append(members, fmt.Sprintf("00u%04d", i))
		}
		name := fmt.Sprintf("G%d", g)
		e.group(t, name, names...)
		e.okta.AddGroup(oktatest.Group{ID: "00g" + name, Name: name, Members: members})
		e.okta.Push("00g"+name, "ACTIVE")
	}
	counted := dynamostore.New(srv.Client(t, counter.ClientOption()), table)
	r := drift.New(drift.Config{Store: counted, Service: e.svc, Links: counted, Feed: counted})
	rep, err := r.Run(context.Background(), conn, idp.Okta, e.reader, nil, drift.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() || rep.StoreUsers != users || rep.StoreGroups != groups {
		t.Fatalf("report = %+v", rep)
	}
	calls := counter.Snapshot()
	t.Logf("DynamoDB calls of a run over %d users and %d groups of 20: %v", users, groups, calls)
	// A page of users (and its counters), a page of groups (and its
	// counters), one member Query per group; then the record and the report.
	// Nothing per user: 240 users in 4 groups took 4+4 = 8 Queries as well.
	if calls["Query"] != 4+groups || calls["TransactWriteItems"] != 2 || counter.Total() != 6+groups {
		t.Fatalf("a run over %d users made %v DynamoDB calls, want %d Queries and 2 TransactWriteItems", users, calls, 4+groups)
	}
}

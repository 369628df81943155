package entra_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/entra"
	"github.com/scimgate/scimgate/pkg/idp/entra/graphtest"
)

func TestProvisionOnDemandAtMostFivePerTenSeconds(t *testing.T) {
	tests := []struct {
		name      string
		users     int
		wantSleep int // how many times the bound made it wait
	}{
		{name: "within one window", users: 5, wantSleep: 0},
		{name: "twelve users", users: 12, wantSleep: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smallDirectory(t)
			clock := newClock()
			r := newReader(t, srv, clock, nil)
			var ids []string
			for i := range tt.users {
				ids = append(ids, uid(i))
			}
			n, err := r.ProvisionOnDemand(context.Background(), ids)
			if err != nil || n != tt.users {
				t.Fatalf("ProvisionOnDemand = %d, %v; want %d", n, err, tt.users)
			}
			got := srv.Provisioned()
			if len(got) != tt.users {
				t.Fatalf("double saw %d provisionOnDemand subjects, want %d", len(got), tt.users)
			}
			for i, p := range got {
				if p.ObjectID != ids[i] || p.RuleID != graphtest.RuleID {
					t.Errorf("call %d = %+v, want user %s with rule %s", i, p, ids[i], graphtest.RuleID)
				}
				// No 10-second window holds more than 5 calls.
				inWindow := 0
				for _, q := range got[:i+1] {
					if p.At.Sub(q.At) < 10*time.Second {
						inWindow++
					}
				}
				if inWindow > 5 {
					t.Errorf("call %d at %v is the %dth in 10 s", i, p.At, inWindow)
				}
			}
			if len(clock.sleeps) != tt.wantSleep {
				t.Errorf("sleeps = %v, want %d", clock.sleeps, tt.wantSleep)
			}
			// The bound holds across calls too: the next one waits.
			before := len(clock.sleeps)
			if tt.users%5 == 0 {
				if _, err := r.ProvisionOnDemand(context.Background(), ids[:1]); err != nil {
					t.Fatal(err)
				}
				if len(clock.sleeps) != before+1 {
					t.Errorf("a sixth call in the window did not wait")
				}
			}
			// jobs and schema are read once, then cached.
			if srv.RequestsFor(graphtest.OpJobs) != 1 || srv.RequestsFor(graphtest.OpSchema) != 1 {
				t.Errorf("jobs read %d times, schema %d times; want 1 each", srv.RequestsFor(graphtest.OpJobs), srv.RequestsFor(graphtest.OpSchema))
			}
		})
	}
}

func TestProvisionOnDemandFailures(t *testing.T) {
	tests := []struct {
		name    string
		op      graphtest.Op
		status  int
		edit    func(*entra.Config)
		wantN   int
		wantFix string
	}{
		{name: "403 jobs", op: graphtest.OpJobs, status: 403, wantFix: "Synchronization.ReadWrite.All"},
		{name: "403 provision", op: graphtest.OpProvision, status: 403, wantFix: "Synchronization.ReadWrite.All"},
		{name: "404 service principal", edit: func(c *entra.Config) { c.ServicePrincipalID = "99999999-0000-4000-8000-000000000000" }, wantFix: "enterprise app's Object ID"},
		{name: "wrong pinned rule", edit: func(c *entra.Config) { c.SyncRuleID = "not-a-rule" }, wantFix: "Graph refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smallDirectory(t)
			if tt.op != "" {
				srv.FailAt(tt.op, 1, tt.status)
			}
			n, err := newReader(t, srv, newClock(), tt.edit).ProvisionOnDemand(context.Background(), []string{uid(1), uid(2)})
			var ie *idp.Error
			if !errors.As(err, &ie) || !strings.Contains(ie.Fix, tt.wantFix) {
				t.Fatalf("err = %v, want a fix naming %q", err, tt.wantFix)
			}
			if n != tt.wantN || len(srv.Provisioned()) != 0 {
				t.Errorf("asked for %d (double saw %d), want %d", n, len(srv.Provisioned()), tt.wantN)
			}
		})
	}
}

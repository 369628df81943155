package checkmain

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/reconcile"
	"github.com/scimgate/scimgate/pkg/scim"
)

// pages serves n pages of one connection each; every inventory has one
// orphan guard; it blocks once slow is reached, until the context ends.
type pages struct {
	n, slow int
	read    int
}

func (p *pages) Connections(ctx context.Context, cursor string, _ int) ([]scim.Connection, string, error) {
	if p.read == p.slow {
		<-ctx.Done()
		return nil, "", ctx.Err()
	}
	p.read++
	next := "more"
	if p.read == p.n {
		next = ""
	}
	return []scim.Connection{{Tenant: "t", SSO: "s"}}, next, nil
}

func (p *pages) Inventory(context.Context, scim.Connection) (*reconcile.Inventory, error) {
	return &reconcile.Inventory{Guards: []reconcile.Guard{{Type: scim.UserResource, Kind: reconcile.NameGuard, Key: "k", Owner: "ghost"}}}, nil
}

func (p *pages) Apply(context.Context, scim.Connection, reconcile.Repair) error {
	panic("the scheduled check never repairs")
}

func driftOf(t *testing.T, out string) float64 {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["_aws"] != nil {
			return m[metrics.MetricDrift].(float64)
		}
	}
	t.Fatalf("no EMF line in\n%s", out)
	return 0
}

func TestCheckAllReportsDrift(t *testing.T) {
	var out bytes.Buffer
	sum, err := checkAll(context.Background(), &pages{n: 3, slow: -1}, 1, slog.New(slog.NewJSONHandler(io.Discard, nil)), &out)
	if err != nil || sum != (Summary{Connections: 3, Violations: 3, Complete: true}) {
		t.Fatalf("%+v, %v", sum, err)
	}
	if d := driftOf(t, out.String()); d != 3 {
		t.Fatalf("Drift %v, want 3", d)
	}
}

// TestDeadlineStillPublishesDrift: a run cut short by the function's
// deadline publishes what it found, and fails (so LambdaErrorsAlarm sees it).
func TestDeadlineStillPublishesDrift(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), deadlineMargin+200*time.Millisecond)
	defer cancel()
	sum, err := checkAll(ctx, &pages{n: 5, slow: 2}, 1, slog.New(slog.NewJSONHandler(io.Discard, nil)), &out)
	if err == nil || sum.Complete || sum.Connections != 2 {
		t.Fatalf("%+v, %v: want an incomplete run of 2 connections and an error", sum, err)
	}
	if d := driftOf(t, out.String()); d != 2 {
		t.Fatalf("Drift %v, want 2", d)
	}
}

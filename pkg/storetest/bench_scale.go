package storetest

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Scale curves: what a key lookup, a member change and a list page cost as a
// connection grows. Every point runs in a store seeded directly through
// scim.Store (not HTTP), each user count in a store of its own, so that a
// point measures a table of exactly that size.

// ScaleMeter counts what a store's calls cost where time says little (DynamoDB
// on moto): calls and read/write request units.
type ScaleMeter interface {
	Reset()
	Counts() (calls int, rru, wru float64)
}

// ScaleConfig says which points to measure and how.
type ScaleConfig struct {
	// Open returns a new, empty store; each user count gets its own.
	Open func(b *testing.B, name string) scim.Store
	// Users are the connection sizes for lookups (ascending); the largest
	// store also holds the groups and the list pages.
	Users []int
	// Groups are the group sizes for adding and removing one member; each
	// must be smaller than the largest of Users.
	Groups []int
	// DeepOffset is where the deep list page starts (startIndex-1).
	DeepOffset int
	// Rounds × OpsPerRound operations per point (ListOpsPerRound for list
	// pages, which read a whole page and count the connection); the points are measured
	// round-robin and each reports its fastest round, so that load from
	// other processes (which only ever slows a round down) affects the
	// curve as little as possible.
	Rounds, OpsPerRound, ListOpsPerRound int
	// Meter, if set, is reset before and read after each operation.
	Meter ScaleMeter
	// SeedConcurrency is how many goroutines create users.
	SeedConcurrency int
}

// ScaleUserID is the id of the i-th seeded user: a UUID-shaped string, as
// the service generates them, in ascending order of i.
func ScaleUserID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func scaleGroupID(i int) string { return fmt.Sprintf("%08x-0000-4000-9000-%012x", i, i) }

var scaleConn = scim.Connection{Tenant: "scale", SSO: "okta"}

func scaleUser(i int, at time.Time) *scim.Resource {
	name := fmt.Sprintf("user%07d@example.com", i)
	ext := fmt.Sprintf("00u%07d", i)
	return &scim.Resource{
		Conn: scaleConn, Type: scim.UserResource, ID: ScaleUserID(i), Version: 1, Created: at, LastModified: at,
		Name: name, ExternalID: ext, Active: true,
		Attributes: map[string]any{
			"userName": name, "externalId": ext, "active": true, "displayName": "Ada Lovelace",
			"name":   map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
			"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}},
		},
	}
}

// scalePoint is one measured operation at one size.
type scalePoint struct {
	name string
	op   func(ctx context.Context, i int) error
	list bool
	best float64 // fastest round, ns per operation
	// per operation, from Meter (the same in every round when the store is deterministic)
	calls    float64
	rru, wru float64
}

// RunScale seeds the stores and reports one sub-benchmark per point, named
// <Operation>/<size>, with metrics ns/call (fastest round) and, with a
// Meter, ddbcalls/call, rru/call and wru/call. The sub-benchmarks only report
// what was measured before them; their ns/op means nothing.
func RunScale(b *testing.B, cfg ScaleConfig) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	largest := slices.Max(cfg.Users)
	var points []*scalePoint
	seeds := map[string]time.Duration{}
	var big scim.Store
	for _, n := range cfg.Users {
		s := cfg.Open(b, fmt.Sprintf("users-%d", n))
		seedStart := time.Now()
		seedUsers(b, s, n, at, cfg.SeedConcurrency)
		seeds[fmt.Sprintf("users=%d", n)] = time.Since(seedStart)
		if n == largest {
			big = s
		}
		probe := func(i int) int { return (i * 7919) % n } // spread over the whole connection
		points = append(points,
			&scalePoint{name: fmt.Sprintf("GetByID/users=%d", n), op: func(ctx context.Context, i int) error {
				_, err := s.Get(ctx, scaleConn, scim.UserResource, ScaleUserID(probe(i)), false)
				return err
			}},
			&scalePoint{name: fmt.Sprintf("FindByUserName/users=%d", n), op: func(ctx context.Context, i int) error {
				_, err := s.FindByName(ctx, scaleConn, scim.UserResource, fmt.Sprintf("USER%07d@example.com", probe(i)), false)
				return err
			}},
		)
	}
	for gi, m := range cfg.Groups {
		group := &scim.Resource{
			Conn: scaleConn, Type: scim.GroupResource, ID: scaleGroupID(gi), Version: 1, Created: at, LastModified: at,
			Name: fmt.Sprintf("Group of %d", m), Active: true, Attributes: map[string]any{"displayName": fmt.Sprintf("Group of %d", m)},
		}
		if err := big.Create(ctx, group); err != nil {
			b.Fatalf("create group of %d: %v", m, err)
		}
		seedStart := time.Now()
		for start := 0; start < m; start += 5000 {
			var add []scim.Member
			for i := start; i < min(m, start+5000); i++ {
				add = append(add, scim.Member{Value: ScaleUserID(i)})
			}
			next := nextVersion(group, at)
			if err := big.ModifyMembers(ctx, next, group.Version, add, nil); err != nil {
				b.Fatalf("seed group of %d: %v", m, err)
			}
			group = next
		}
		seeds[fmt.Sprintf("members=%d", m)] = time.Since(seedStart)
		// Each round adds OpsPerRound users outside every group, one per
		// operation, and the next point removes the same ones again.
		spare := func(i int) string { return ScaleUserID(largest - 1 - i%cfg.OpsPerRound) }
		g := group
		points = append(points,
			&scalePoint{name: fmt.Sprintf("AddMember/members=%d", m), op: func(ctx context.Context, i int) error {
				next := nextVersion(g, at)
				if err := big.ModifyMembers(ctx, next, g.Version, []scim.Member{{Value: spare(i)}}, nil); err != nil {
					return err
				}
				g = next
				return nil
			}},
			&scalePoint{name: fmt.Sprintf("RemoveMember/members=%d", m), op: func(ctx context.Context, i int) error {
				next := nextVersion(g, at)
				if err := big.ModifyMembers(ctx, next, g.Version, nil, []string{spare(i)}); err != nil {
					return err
				}
				g = next
				return nil
			}},
		)
	}
	list := func(opts scim.ListOptions) func(ctx context.Context, i int) error {
		return func(ctx context.Context, i int) error {
			page, err := big.List(ctx, scaleConn, scim.UserResource, opts)
			if err == nil && len(page.Resources) != opts.Limit {
				err = fmt.Errorf("list page: %d resources, want %d", len(page.Resources), opts.Limit)
			}
			return err
		}
	}
	points = append(points,
		&scalePoint{list: true, name: fmt.Sprintf("ListPage100/startIndex=1/users=%d", largest), op: list(scim.ListOptions{Limit: 100})},
		&scalePoint{list: true, name: fmt.Sprintf("ListPage100/startIndex=%d/users=%d", cfg.DeepOffset+1, largest), op: list(scim.ListOptions{Offset: cfg.DeepOffset, Limit: 100})},
		&scalePoint{list: true, name: fmt.Sprintf("ListPage100/cursor=first/users=%d", largest), op: list(scim.ListOptions{Limit: 100})},
		&scalePoint{list: true, name: fmt.Sprintf("ListPage100/cursor=at-%d/users=%d", cfg.DeepOffset+1, largest), op: list(scim.ListOptions{After: ScaleUserID(cfg.DeepOffset - 1), Limit: 100})},
	)

	for _, p := range points {
		p.best = math.Inf(1)
	}
	for round := range cfg.Rounds {
		for _, p := range points {
			var calls int
			var rru, wru float64
			ops := cfg.OpsPerRound
			if p.list {
				ops = cfg.ListOpsPerRound
			}
			start := time.Now()
			for i := range ops {
				if cfg.Meter != nil {
					cfg.Meter.Reset()
				}
				if err := p.op(ctx, round*ops+i); err != nil {
					b.Fatalf("%s: %v", p.name, err)
				}
				if cfg.Meter != nil {
					c, r, w := cfg.Meter.Counts()
					calls, rru, wru = calls+c, rru+r, wru+w
				}
			}
			p.best = min(p.best, float64(time.Since(start).Nanoseconds())/float64(ops))
			p.calls = float64(calls) / float64(ops)
			p.rru, p.wru = rru/float64(ops), wru/float64(ops)
		}
	}
	for name, d := range seeds {
		b.Run("Seed/"+name, func(b *testing.B) {
			b.ReportMetric(d.Seconds(), "s/seed")
		})
	}
	for _, p := range points {
		b.Run(p.name, func(b *testing.B) {
			b.ReportMetric(p.best, "ns/call")
			if cfg.Meter != nil {
				b.ReportMetric(p.calls, "ddbcalls/call")
				b.ReportMetric(p.rru, "rru/call")
				b.ReportMetric(p.wru, "wru/call")
			}
		})
	}
}

func nextVersion(r *scim.Resource, at time.Time) *scim.Resource {
	n := *r
	n.Version++
	n.LastModified = at.Add(time.Duration(n.Version) * time.Millisecond)
	n.Members = nil
	return &n
}

// seedUsers creates users 0..n-1 with c goroutines.
func seedUsers(b *testing.B, s scim.Store, n int, at time.Time, c int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, max(c, 1))
	for w := range max(c, 1) {
		wg.Go(func() {
			for i := w; i < n; i += max(c, 1) {
				if err := s.Create(ctx, scaleUser(i, at)); err != nil {
					errs <- fmt.Errorf("seed user %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// ScaleSizes reads a comma-separated list of sizes from the environment
// variable env (for a quick run), or returns def.
func ScaleSizes(env string, def ...int) []int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	var sizes []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			panic(fmt.Sprintf("%s: %q is not a size", env, f))
		}
		sizes = append(sizes, n)
	}
	return sizes
}

package declared_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/declared"
)

// countingSource is a stored default that counts its reads and can fail.
type countingSource struct {
	value string
	err   error
	reads int
}

func (s *countingSource) DefaultSchemas(context.Context) (string, error) {
	s.reads++
	return s.value, s.err
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCacheReadsAtMostOncePerMaxAge(t *testing.T) {
	ctx := context.Background()
	src := &countingSource{value: "v1"}
	clk := &clock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	c := declared.NewCache(src, clk.now, time.Minute, nil)

	steps := []struct {
		advance   time.Duration
		setValue  string
		want      string
		wantReads int
	}{
		{0, "", "v1", 1},
		{30 * time.Second, "", "v1", 1},
		{29 * time.Second, "v2", "v1", 1}, // stored value changed, still within the minute
		{time.Second, "", "v2", 2},        // a minute after the first read
		{59 * time.Second, "", "v2", 2},
		{time.Second, "", "v2", 3},
	}
	for i, s := range steps {
		clk.t = clk.t.Add(s.advance)
		if s.setValue != "" {
			src.value = s.setValue
		}
		for range 3 { // repeated requests within one instant
			got, err := c.DefaultSchemas(ctx)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if got != s.want {
				t.Fatalf("step %d: got %q, want %q", i, got, s.want)
			}
		}
		if src.reads != s.wantReads {
			t.Fatalf("step %d: %d reads of the store, want %d", i, src.reads, s.wantReads)
		}
	}
}

func TestCacheFailures(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("throttled")
	src := &countingSource{err: boom}
	clk := &clock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	c := declared.NewCache(src, clk.now, time.Minute, nil)

	// Never read: the request fails rather than ignore the platform's schemas.
	if _, err := c.DefaultSchemas(ctx); !errors.Is(err, boom) {
		t.Fatalf("first read failing: err = %v, want %v", err, boom)
	}
	// It is tried again on the next request, not cached as a failure.
	src.err, src.value = nil, "v1"
	if got, err := c.DefaultSchemas(ctx); err != nil || got != "v1" {
		t.Fatalf("after recovery: %q, %v", got, err)
	}
	// A failed refresh keeps the value read before...
	clk.t = clk.t.Add(time.Minute)
	src.err, src.value = boom, "v2"
	if got, err := c.DefaultSchemas(ctx); err != nil || got != "v1" {
		t.Fatalf("failed refresh: %q, %v, want the previous value", got, err)
	}
	reads := src.reads
	// ...and does not retry on every request...
	clk.t = clk.t.Add(time.Second)
	if _, err := c.DefaultSchemas(ctx); err != nil || src.reads != reads {
		t.Fatalf("retried within a second of a failure: %d reads, want %d (err %v)", src.reads, reads, err)
	}
	// ...but a few seconds later.
	clk.t = clk.t.Add(5 * time.Second)
	src.err = nil
	if got, err := c.DefaultSchemas(ctx); err != nil || got != "v2" {
		t.Fatalf("refresh after the retry delay: %q, %v", got, err)
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

// EnvHealthFlushInterval is the environment default of serve's --health-flush.
const EnvHealthFlushInterval = "SCIMGATE_HEALTH_FLUSH_INTERVAL"

// defaultLocalHealthFlush is serve's flush interval: the embedded store
// writes cheaply, so the local report lags by seconds, not a minute.
const defaultLocalHealthFlush = 10 * time.Second

// healthFlags is serve's --health-flush.
type healthFlags struct{ flush string }

func (f *healthFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.flush, "health-flush", env(EnvHealthFlushInterval, defaultLocalHealthFlush.String()),
		`how often sync health is written to the store (the staleness of connection health), or "off"`)
}

// interval is the parsed flag; 0 means off.
func (f *healthFlags) interval() (time.Duration, error) {
	if f.flush == "off" {
		return 0, nil
	}
	d, err := time.ParseDuration(f.flush)
	if err != nil || d < 100*time.Millisecond {
		return 0, usageErrorf("--health-flush %q: use a duration such as 10s, or off", f.flush)
	}
	return d, nil
}

// startHealth starts serve's aggregator on store: a flush every interval,
// and a last one when the returned stop is called (after the server has let
// its requests finish, before the store closes). A zero interval is off:
// nil aggregator, stop does nothing.
func startHealth(store health.Store, interval time.Duration, logger *slog.Logger) (*health.Aggregator, func()) {
	if interval == 0 {
		return nil, func() {}
	}
	agg := health.NewAggregator(store, health.WithFlushInterval(interval), health.WithLogger(logger))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		agg.Run(ctx)
	}()
	return agg, func() {
		cancel()
		<-done
	}
}

// healthObserver is what the SCIM handler tells of each request.
func healthObserver(agg *health.Aggregator) httpapi.Observer {
	return health.NewObserver(agg, func(ctx context.Context) health.Detail {
		o := httpapi.OutcomeOf(ctx)
		return health.Detail{RequestID: o.RequestID, UserAgent: o.UserAgent, ScimType: o.ScimType, Authenticated: o.Authenticated}
	})
}

// connectionShow is `connection show --json`: the connection, and its sync
// health under "health" with the admin API's keys.
type connectionShow struct {
	*admin.ConnectionDetail
	Health *health.Report `json:"health"`
}

// healthReport reads conn's report from the store.
func healthReport(ctx context.Context, store health.Store, conn scim.Connection) (*health.Report, error) {
	now := time.Now()
	buckets, err := store.ListHealth(ctx, conn, health.Since(now))
	if err != nil {
		return nil, fmt.Errorf("read sync health of %s: %w", conn, err)
	}
	r := health.Summarize(conn, buckets, now)
	return &r, nil
}

// printHealth is the human table of a report.
func printHealth(w io.Writer, r *health.Report) error {
	call := func(c *health.CallReport) string {
		if c == nil {
			return "-"
		}
		s := c.Time + "  " + c.Method + " " + c.Route + "  " + strconv.Itoa(c.Status)
		if c.ScimType != "" {
			s += " " + c.ScimType
		}
		if c.RequestID != "" {
			s += "  request " + c.RequestID
		}
		return s
	}
	counts := func(c health.Counts) string {
		return fmt.Sprintf("2xx %d  3xx %d  4xx %d  5xx %d  rate-limited %d", c.Success2xx, c.Redirect3xx, c.Client4xx, c.Server5xx, c.RateLimited)
	}
	return printTable(w, []string{"HEALTH", "VALUE"}, [][]string{
		{"last request", call(r.LastRequest)},
		{"last success", call(r.LastSuccess)},
		{"last error", call(r.LastError)},
		{"last hour", counts(r.LastHour)},
		{"last day", counts(r.LastDay)},
		{"user agent", orDash(r.UserAgent)},
		{"as of", r.AsOf},
	})
}

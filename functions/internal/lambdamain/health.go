package lambdamain

import (
	"context"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/httpapi"
)

// EnvHealthFlushInterval is how often an execution environment writes the
// sync health it aggregated (a Go duration, default
// health.DefaultFlushInterval; "off" records none). It is the staleness of
// GET .../health and bounds its cost: one write per connection per interval
// per environment, and only for connections that sent requests.
const EnvHealthFlushInterval = "SCIMGATE_HEALTH_FLUSH_INTERVAL"

// healthObserver is the sync health observer of a SCIM function, or nil
// when turned off. It starts nothing and calls nothing at init: an
// execution environment is frozen between invocations, so the flush rides
// on the request that finds the interval passed (the environment's first
// request, then at most once per interval), after its response is written.
func healthObserver(getenv func(string) string, store health.Store) (httpapi.Observer, error) {
	interval := health.DefaultFlushInterval
	switch raw := getenv(EnvHealthFlushInterval); raw {
	case "":
	case "off":
		return nil, nil
	default:
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("%s=%q: use a duration of at least 1s such as 60s, or off", EnvHealthFlushInterval, raw)
		}
		interval = d
	}
	agg := health.NewAggregator(store, health.WithFlushInterval(interval))
	return health.NewObserver(agg, healthDetail).FlushOnRequest(), nil
}

// healthDetail reads what health records of a request from the HTTP layer.
func healthDetail(ctx context.Context) health.Detail {
	o := httpapi.OutcomeOf(ctx)
	return health.Detail{RequestID: o.RequestID, UserAgent: o.UserAgent, ScimType: o.ScimType, Authenticated: o.Authenticated}
}

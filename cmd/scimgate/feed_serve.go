package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/events"
	"github.com/scimgate/scimgate/pkg/webhooks"
)

// feedServeFlags are serve's change-feed settings (docs/events.md).
type feedServeFlags struct {
	webhookURL, secretFile, retention string
}

func (f *feedServeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.webhookURL, "webhook-url", os.Getenv("SCIMGATE_WEBHOOK_URL"), "deliver every change record by a signed POST to this URL ($SCIMGATE_WEBHOOK_URL; default: no webhook)")
	fs.StringVar(&f.secretFile, "webhook-secret-file", os.Getenv("SCIMGATE_WEBHOOK_SECRET_FILE"), "file holding the webhook's Standard Webhooks secret, whsec_ and the base64 key ($SCIMGATE_WEBHOOK_SECRET_FILE)")
	fs.StringVar(&f.retention, "change-retention", env("SCIMGATE_CHANGE_RETENTION", "400d"), "keep change records this long on the embedded store, then prune them (Go duration or days: 400d)")
}

// feedOptions are the checked settings.
type feedOptions struct {
	webhookURL string
	secret     events.Secret
	retention  time.Duration
}

func (f *feedServeFlags) options() (feedOptions, error) {
	var o feedOptions
	d, err := parseDays(f.retention)
	if err != nil || d <= 0 {
		return o, usageErrorf("--change-retention %q is not a positive duration such as 400d or 720h", f.retention)
	}
	o.retention = d
	if f.webhookURL == "" {
		if f.secretFile != "" {
			return o, usageErrorf("--webhook-secret-file is set but --webhook-url is not")
		}
		return o, nil
	}
	u, err := url.Parse(f.webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, usageErrorf("--webhook-url %q must be an http or https URL", f.webhookURL)
	}
	if f.secretFile == "" {
		return o, usageErrorf("--webhook-url needs --webhook-secret-file: deliveries are always signed")
	}
	b, err := os.ReadFile(f.secretFile)
	if err != nil {
		return o, fmt.Errorf("read the webhook secret file: %w", err)
	}
	if o.secret, err = events.ParseSecret(string(b)); err != nil {
		return o, fmt.Errorf("%s: %w", f.secretFile, err)
	}
	o.webhookURL = f.webhookURL
	return o, nil
}

// parseDays is a Go duration or a whole number of days ("400d").
func parseDays(s string) (time.Duration, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%dd", &n); err == nil && fmt.Sprintf("%dd", n) == s {
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// shortcutEndpointID is the endpoint --webhook-url stands for.
const shortcutEndpointID = "wh_serve"

// legacyWebhookConsumer names the per-connection cursors the single-URL
// deliverer kept before webhook endpoints were stored objects; the shortcut
// endpoint starts from them, so an upgrade neither re-sends nor skips.
const legacyWebhookConsumer = "webhook"

// pruneInterval is how often the embedded store drops expired records.
const pruneInterval = time.Hour

// startFeed starts serve's background work on the change feed: the webhook
// deliverer, and on the embedded store the retention prune. Both run in
// their own goroutines and only read and write the store, so a slow or dead
// receiver never delays a SCIM request. stop ends them and waits.
func startFeed(ctx context.Context, st *stores, o feedOptions, logger *slog.Logger, stderr io.Writer) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }
	if pruner, ok := st.resources.(changes.Pruner); ok && st.embedded != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if n, err := pruner.PruneChanges(ctx, time.Now().Add(-o.retention)); err != nil && ctx.Err() == nil {
					logger.Error("prune change records", "error", err.Error())
				} else if n > 0 {
					logger.Info("pruned change records", "count", n)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(pruneInterval):
				}
			}
		}()
	}
	hooks, okHooks := st.resources.(webhooks.Store)
	feed, okFeed := st.resources.(changes.Feed)
	cursors, _ := st.resources.(changes.Cursors)
	if !okHooks || !okFeed {
		if o.webhookURL != "" {
			stop()
			return nil, fmt.Errorf("the %s keeps no change feed to deliver", st.describe)
		}
		return stop, nil
	}
	if o.webhookURL != "" {
		// The shortcut is one stored endpoint, replaced at each start; it
		// resumes from the cursors the single-URL deliverer kept.
		svc := &webhooks.Service{Store: hooks}
		if err := svc.Ensure(ctx, shortcutEndpointID, o.webhookURL, o.secret, legacyWebhookConsumer); err != nil {
			stop()
			return nil, fmt.Errorf("set up the --webhook-url endpoint: %w", err)
		}
	}
	engine, err := webhooks.NewEngine(webhooks.EngineConfig{
		Store: hooks, Feed: feed, Cursors: cursors, Logger: logger, PruneLog: st.embedded != nil,
		Connections: func(ctx context.Context) ([]changes.Conn, error) {
			conns, err := st.conns.ListConnections(ctx, "")
			if err != nil {
				return nil, err
			}
			out := make([]changes.Conn, len(conns))
			for i, c := range conns {
				out[i] = changes.Conn{Tenant: c.Conn.Tenant, SSO: c.Conn.SSO}
			}
			return out, nil
		},
	})
	if err != nil {
		stop()
		return nil, err
	}
	wg.Add(1)
	go func() { defer wg.Done(); engine.Run(ctx) }()
	if o.webhookURL != "" {
		fmt.Fprintf(stderr, "scimgate: delivering change records to %s (signed, Standard Webhooks; endpoint %s)\n", o.webhookURL, shortcutEndpointID)
	}
	return stop, nil
}

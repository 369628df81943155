package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
)

// Defaults of the webhook deliverer.
const (
	// DefaultConsumer names the cursor the deliverer keeps in the store.
	DefaultConsumer = "webhook"
	// DefaultRequestTimeout: the spec recommends 15 to 30 s ("Request timeouts").
	DefaultRequestTimeout = 15 * time.Second
	DefaultPollInterval   = time.Second
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	deliveryPage          = 100
)

// WebhookConfig configures a Deliverer.
type WebhookConfig struct {
	URL    string
	Secret Secret
	// Feed is where records are read, Cursors where the position of each
	// connection is kept (both: the store).
	Feed    changes.Feed
	Cursors changes.Cursors
	// Connections lists the connections to follow; it is asked again every
	// PollInterval, so new connections are picked up.
	Connections changes.ConnectionLister
	// Consumer names the cursors (DefaultConsumer when empty), so that two
	// receivers could follow the same feed independently.
	Consumer string
	// Client sends the requests; one with DefaultRequestTimeout when nil.
	Client *http.Client
	// PollInterval is how often a caught-up connection looks for new
	// records, and how often new connections are looked for.
	PollInterval time.Duration
	// BackoffBase and BackoffMax bound the exponential backoff of a failing
	// delivery: BackoffBase·2^n, at most BackoffMax, with jitter.
	BackoffBase, BackoffMax time.Duration
	Logger                  *slog.Logger
	// Now stamps webhook-timestamp; time.Now when nil.
	Now func() time.Time
}

// Deliverer POSTs every record of every connection to one URL, at least
// once and in order per connection, resuming from the stored cursors. It
// runs beside the SCIM server and never blocks it: requests only write
// records; the deliverer reads them on its own.
type Deliverer struct {
	cfg WebhookConfig

	mu      sync.Mutex
	running map[changes.Conn]bool
	wg      sync.WaitGroup
}

// NewDeliverer checks cfg and fills its defaults.
func NewDeliverer(cfg WebhookConfig) (*Deliverer, error) {
	switch {
	case cfg.URL == "":
		return nil, errors.New("webhook: no URL")
	case len(cfg.Secret) == 0:
		return nil, errors.New("webhook: no secret")
	case cfg.Feed == nil || cfg.Cursors == nil || cfg.Connections == nil:
		return nil, errors.New("webhook: the store does not keep a change feed")
	}
	if cfg.Consumer == "" {
		cfg.Consumer = DefaultConsumer
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultRequestTimeout}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffBase)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Deliverer{cfg: cfg, running: map[changes.Conn]bool{}}, nil
}

// Run delivers until ctx ends: one goroutine per connection that has
// records, started as connections appear. It returns after every
// connection's goroutine has stopped, so that a caller can close the store.
func (d *Deliverer) Run(ctx context.Context) {
	defer d.wg.Wait()
	for {
		conns, err := d.cfg.Connections(ctx)
		if err != nil && ctx.Err() == nil {
			d.cfg.Logger.Error("webhook: list connections", "error", err.Error())
		}
		for _, c := range conns {
			d.start(ctx, c)
		}
		if sleep(ctx, d.cfg.PollInterval) != nil {
			return
		}
	}
}

func (d *Deliverer) start(ctx context.Context, c changes.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running[c] {
		return
	}
	d.running[c] = true
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			n, err := d.DeliverConnection(ctx, c)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				d.cfg.Logger.Error("webhook: read feed", "tenant", c.Tenant, "sso", c.SSO, "error", err.Error())
			}
			if n == 0 && sleep(ctx, d.cfg.PollInterval) != nil {
				return
			}
		}
	}()
}

// DeliverConnection delivers one page of conn's pending records, each
// until it is accepted, saving the cursor after each; it returns how many
// it delivered (0: caught up). An error is a store failure; ctx ending
// returns ctx's error.
func (d *Deliverer) DeliverConnection(ctx context.Context, c changes.Conn) (int, error) {
	after, err := d.cfg.Cursors.LoadCursor(ctx, d.cfg.Consumer, c)
	if err != nil {
		return 0, fmt.Errorf("load webhook cursor of %s: %w", c, err)
	}
	page, err := d.cfg.Feed.ListChanges(ctx, changes.Query{Tenant: c.Tenant, SSO: c.SSO, After: after, Limit: deliveryPage})
	if err != nil {
		return 0, fmt.Errorf("read feed of %s: %w", c, err)
	}
	for i := range page.Records {
		rec := &page.Records[i]
		if err := d.deliver(ctx, rec); err != nil {
			return i, err
		}
		if err := d.cfg.Cursors.SaveCursor(ctx, d.cfg.Consumer, c, rec.ID); err != nil {
			// Delivered but not recorded: it is sent again after a restart,
			// which at-least-once allows and the webhook-id lets receivers drop.
			return i + 1, fmt.Errorf("save webhook cursor of %s: %w", c, err)
		}
	}
	if len(page.Records) == 0 && page.Next != "" && page.Next != after {
		// Records were scanned but none is for delivery: move on past them.
		if err := d.cfg.Cursors.SaveCursor(ctx, d.cfg.Consumer, c, page.Next); err != nil {
			return 0, fmt.Errorf("save webhook cursor of %s: %w", c, err)
		}
		return 1, nil
	}
	return len(page.Records), nil
}

// deliver POSTs one record until the receiver answers 2xx or ctx ends.
func (d *Deliverer) deliver(ctx context.Context, rec *changes.Record) error {
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record %s: %w", rec.ID, err)
	}
	for attempt := 0; ; attempt++ {
		status, retryAfter, err := d.post(ctx, rec.ID, body)
		if err == nil && status/100 == 2 {
			if attempt > 0 {
				d.cfg.Logger.Info("webhook delivered after retries", "event_id", rec.ID, "attempts", attempt+1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := d.backoff(attempt, retryAfter)
		attrs := []any{"event_id", rec.ID, "tenant", rec.Tenant, "sso", rec.SSO, "attempt", attempt + 1, "retry_in", wait.String()}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		} else {
			attrs = append(attrs, "status", status)
		}
		d.cfg.Logger.Warn("webhook delivery failed", attrs...)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// post sends one attempt; each attempt is signed with its own timestamp,
// as receivers reject timestamps outside their tolerance.
func (d *Deliverer) post(ctx context.Context, id string, body []byte) (status int, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scimgate-webhook")
	d.cfg.Secret.SetHeaders(req.Header, id, d.cfg.Now(), body)
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}

// backoff is BackoffBase·2^attempt capped at BackoffMax, drawn in its upper
// half (jitter, as the spec recommends, so that many senders do not retry in
// step), and never shorter than a Retry-After the receiver asked for (up to
// BackoffMax).
func (d *Deliverer) backoff(attempt int, retryAfter time.Duration) time.Duration {
	wait := d.cfg.BackoffMax
	if attempt < 30 {
		wait = min(d.cfg.BackoffBase<<attempt, d.cfg.BackoffMax)
	}
	wait = wait/2 + rand.N(wait/2+1)
	return min(max(wait, retryAfter), d.cfg.BackoffMax)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

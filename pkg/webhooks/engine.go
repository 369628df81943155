package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/events"
	"github.com/scimgate/scimgate/pkg/scim"
)

// Defaults of the delivery engine (docs/events.md states them).
const (
	// DefaultRetryBound: a record is retried until this long after it was
	// written, then goes to the endpoint's dead letters. Measured from the
	// record's time, so that it survives restarts and an endpoint dead for
	// longer than the bound moves on after one attempt per record.
	DefaultRetryBound = 24 * time.Hour
	// DefaultProbeInterval: while an endpoint fails, one probe (the failing
	// record again) is sent this often, whatever the backoff; a 2xx wakes
	// every lane of the endpoint. With DefaultProbeTimeout it bounds the
	// time from the receiver's recovery to the next delivery below 5 s.
	DefaultProbeInterval = 2 * time.Second
	DefaultProbeTimeout  = 2 * time.Second
	// DefaultRequestTimeout: the spec recommends 15 to 30 s ("Request timeouts").
	DefaultRequestTimeout = 15 * time.Second
	DefaultPollInterval   = time.Second
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	deliveryPage          = 100
)

// EngineConfig configures an Engine.
type EngineConfig struct {
	Store Store
	// Feed is where records are read; Connections lists the connections
	// (the connection directory), asked again every PollInterval.
	Feed        changes.Feed
	Connections changes.ConnectionLister
	// Cursors reads the legacy cursors an endpoint's InitialCursor names.
	Cursors changes.Cursors
	Client  *http.Client
	PollInterval, BackoffBase, BackoffMax, RetryBound,
	ProbeInterval, ProbeTimeout, RequestTimeout time.Duration
	// DiscoverInterval is how often endpoints and connections are listed
	// to start new lanes (PollInterval when zero); a lane itself notices
	// its endpoint's changes at every page.
	DiscoverInterval time.Duration
	// LogRetention sets the delivery log items' expiry (DefaultLogRetention).
	LogRetention time.Duration
	// PruneLog makes the engine delete expired log items itself, hourly
	// (the embedded store; DynamoDB's TTL does it on AWS).
	PruneLog bool
	Logger   *slog.Logger
	// Now is the clock of signatures, the retry bound and the log.
	Now func() time.Time
}

// Engine delivers the change feed to every enabled endpoint: one lane per
// endpoint and connection, each in order and at least once, each on its
// own goroutine so that a slow or dead endpoint never delays another.
type Engine struct {
	cfg EngineConfig

	mu      sync.Mutex
	lanes   map[laneKey]bool
	replays map[string]bool
	health  map[string]*health
	wg      sync.WaitGroup
}

type laneKey struct {
	endpoint string
	conn     changes.Conn
}

// NewEngine checks cfg and fills its defaults.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Store == nil || cfg.Feed == nil || cfg.Connections == nil {
		return nil, fmt.Errorf("webhook engine: the store keeps no webhook endpoints or change feed")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.BackoffBase, DefaultBackoffBase)
	def(&cfg.BackoffMax, DefaultBackoffMax)
	def(&cfg.RetryBound, DefaultRetryBound)
	def(&cfg.ProbeInterval, DefaultProbeInterval)
	def(&cfg.ProbeTimeout, DefaultProbeTimeout)
	def(&cfg.RequestTimeout, DefaultRequestTimeout)
	def(&cfg.LogRetention, DefaultLogRetention)
	def(&cfg.DiscoverInterval, cfg.PollInterval)
	cfg.BackoffMax = max(cfg.BackoffMax, cfg.BackoffBase)
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{cfg: cfg, lanes: map[laneKey]bool{}, replays: map[string]bool{}, health: map[string]*health{}}, nil
}

// Run delivers until ctx ends, starting lanes as endpoints and connections
// appear; it returns once every lane has stopped.
func (e *Engine) Run(ctx context.Context) {
	defer e.wg.Wait()
	var lastPrune, lastDiscover time.Time
	for {
		if time.Since(lastDiscover) >= e.cfg.DiscoverInterval {
			lastDiscover = time.Now()
			e.startLanes(ctx)
		}
		if e.cfg.PruneLog && e.cfg.Now().Sub(lastPrune) >= time.Hour {
			lastPrune = e.cfg.Now()
			e.pruneLogs(ctx)
		}
		if sleep(ctx, e.cfg.PollInterval) != nil {
			return
		}
	}
}

func (e *Engine) startLanes(ctx context.Context) {
	eps, err := listEndpoints(ctx, e.cfg.Store)
	if err != nil {
		if ctx.Err() == nil {
			e.cfg.Logger.Error("webhook: list endpoints", "error", err.Error())
		}
		return
	}
	conns, err := e.cfg.Connections(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.cfg.Logger.Error("webhook: list connections", "error", err.Error())
		}
		return
	}
	for _, ep := range eps {
		if !ep.Enabled {
			continue
		}
		for _, c := range conns {
			if ep.Covers(c) {
				e.startLane(ctx, laneKey{ep.ID, c})
			}
		}
		e.startDeadLetterReplay(ctx, ep)
	}
}

func (e *Engine) healthOf(id string) *health {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.health[id]
	if h == nil {
		h = &health{wake: make(chan struct{})}
		e.health[id] = h
	}
	return h
}

func (e *Engine) startLane(ctx context.Context, k laneKey) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lanes[k] {
		return
	}
	e.lanes[k] = true
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() { e.mu.Lock(); delete(e.lanes, k); e.mu.Unlock() }()
		for {
			n, err := e.DeliverLane(ctx, k.endpoint, k.conn)
			if ctx.Err() != nil || err == errGone {
				return
			}
			if err != nil {
				e.cfg.Logger.Error("webhook: lane", "endpoint", k.endpoint, "tenant", k.conn.Tenant, "sso", k.conn.SSO, "error", err.Error())
			}
			if n == 0 && sleep(ctx, e.cfg.PollInterval) != nil {
				return
			}
		}
	}()
}

// position is where a lane is: the last record id it is done with, and
// the replay request it has taken into account.
type position struct {
	After string `json:"after"`
	Seq   int64  `json:"seq"`
}

func positionKey(c changes.Conn) string { return prefixPosition + c.Tenant + "/" + c.SSO }

func (e *Engine) loadPosition(ctx context.Context, ep *endpointItem, c changes.Conn) (position, error) {
	item, err := e.cfg.Store.GetWebhookItem(ctx, endpointPartition(ep.ID), positionKey(c))
	if err == nil {
		var p position
		if err := json.Unmarshal(item.Body, &p); err != nil {
			return p, fmt.Errorf("decode position: %w", err)
		}
		return p, nil
	}
	if !scim.IsNotFound(err) {
		return position{}, fmt.Errorf("load position: %w", err)
	}
	// A new lane starts where the legacy consumer was, or at the endpoint's
	// creation: an endpoint receives what happens after it is created;
	// replay sends older records. Seq 0: a replay requested before the lane
	// first ran applies to it.
	p := position{After: idFloor(ep.Created)}
	if ep.InitialCursor != "" && e.cfg.Cursors != nil {
		if p.After, err = e.cfg.Cursors.LoadCursor(ctx, ep.InitialCursor, c); err != nil {
			return p, err
		}
	}
	return p, nil
}

func (e *Engine) savePosition(ctx context.Context, id string, c changes.Conn, p position) error {
	b, _ := json.Marshal(p)
	if err := e.cfg.Store.PutWebhookItem(ctx, endpointPartition(id), Item{Key: positionKey(c), Body: b}); err != nil {
		return fmt.Errorf("save position of %s %s: %w", id, c, err)
	}
	return nil
}

// idFloor is the smallest record id of t's millisecond.
func idFloor(t time.Time) string {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t))
	return u.String()
}

// DeliverLane delivers one page of the records of conn pending for the
// endpoint, each until accepted or dead-lettered, saving the position after
// each; it returns how many records it went past (0: caught up). errGone:
// the endpoint was deleted, disabled or no longer covers conn.
func (e *Engine) DeliverLane(ctx context.Context, id string, c changes.Conn) (int, error) {
	ep, err := loadEndpoint(ctx, e.cfg.Store, id)
	if scim.IsNotFound(err) {
		return 0, errGone
	}
	if err != nil {
		return 0, err
	}
	if !ep.Enabled || !ep.Covers(c) {
		return 0, errGone
	}
	pos, err := e.loadPosition(ctx, ep, c)
	if err != nil {
		return 0, err
	}
	if ep.ReplaySeq > pos.Seq {
		pos = position{After: ep.ReplayAfter, Seq: ep.ReplaySeq}
		if err := e.savePosition(ctx, id, c, pos); err != nil {
			return 0, err
		}
	}
	page, err := e.cfg.Feed.ListChanges(ctx, changes.Query{Tenant: c.Tenant, SSO: c.SSO, After: pos.After, Limit: deliveryPage})
	if err != nil {
		return 0, fmt.Errorf("read feed of %s: %w", c, err)
	}
	skipped := false
	for i := range page.Records {
		rec := &page.Records[i]
		if !ep.Wants(rec.Type) {
			pos.After, skipped = rec.ID, true
			continue
		}
		if ep, err = e.deliver(ctx, ep, rec); err != nil {
			return i, err
		}
		pos.After, skipped = rec.ID, false
		if err := e.savePosition(ctx, id, c, pos); err != nil {
			// Delivered but not recorded: sent again later, which
			// at-least-once allows and webhook-id lets receivers drop.
			return i + 1, err
		}
	}
	if page.Next != "" && page.Next > pos.After {
		pos.After, skipped = page.Next, true
	}
	if skipped {
		if err := e.savePosition(ctx, id, c, pos); err != nil {
			return 0, err
		}
		if len(page.Records) == 0 {
			return 1, nil
		}
	}
	return len(page.Records), nil
}

// message is one signed POST.
type message struct {
	id   string
	body []byte
	conn changes.Conn
}

// deliver sends rec until a 2xx, or until the retry bound has passed
// (then it becomes a dead letter); it returns the endpoint as last loaded.
func (e *Engine) deliver(ctx context.Context, ep *endpointItem, rec *changes.Record) (*endpointItem, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return ep, fmt.Errorf("encode record %s: %w", rec.ID, err)
	}
	msg := message{id: rec.ID, body: body, conn: changes.Conn{Tenant: rec.Tenant, SSO: rec.SSO}}
	h := e.healthOf(ep.ID)
	for attempt := 1; ; attempt++ {
		res := e.post(ctx, ep, msg, e.cfg.RequestTimeout)
		if res.ok() {
			e.logAttempt(ctx, ep.ID, msg, attempt, res, "delivered")
			h.recovered()
			return ep, nil
		}
		if ctx.Err() != nil {
			return ep, ctx.Err()
		}
		if !e.cfg.Now().Before(rec.Time.Add(e.cfg.RetryBound)) {
			e.logAttempt(ctx, ep.ID, msg, attempt, res, "dead_letter")
			return ep, e.deadLetter(ctx, ep.ID, rec, body, attempt, res)
		}
		e.logAttempt(ctx, ep.ID, msg, attempt, res, "retry")
		wake := h.failing(e, ctx, ep.ID, msg)
		select {
		case <-ctx.Done():
			return ep, ctx.Err()
		case <-time.After(e.backoff(attempt-1, res.retryAfter)):
		case <-wake:
		}
		// Reload: the secrets may have rotated, the endpoint been disabled.
		next, err := loadEndpoint(ctx, e.cfg.Store, ep.ID)
		if scim.IsNotFound(err) {
			return ep, errGone
		}
		if err != nil {
			return ep, err
		}
		if !next.Enabled {
			return ep, errGone
		}
		ep = next
	}
}

func (e *Engine) deadLetter(ctx context.Context, id string, rec *changes.Record, body []byte, attempts int, res result) error {
	d := DeadLetter{RecordID: rec.ID, Tenant: rec.Tenant, SSO: rec.SSO, Type: rec.Type, Time: e.cfg.Now().UTC().Truncate(time.Millisecond),
		Attempts: attempts, LastStatus: res.status, LastError: res.errText(), Record: body}
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode dead letter %s: %w", rec.ID, err)
	}
	if err := e.cfg.Store.PutWebhookItem(ctx, endpointPartition(id), Item{Key: prefixDeadLetter + rec.ID, Body: b}); err != nil {
		return fmt.Errorf("put dead letter %s: %w", rec.ID, err)
	}
	e.cfg.Logger.Warn("webhook: record dead-lettered", "endpoint", id, "event_id", rec.ID, "attempts", attempts)
	return nil
}

// result is the outcome of one POST.
type result struct {
	status     int
	err        error
	latency    time.Duration
	retryAfter time.Duration
}

func (r result) ok() bool { return r.err == nil && r.status/100 == 2 }

func (r result) errText() string {
	switch {
	case r.err != nil:
		return r.err.Error()
	case r.status/100 != 2:
		return "HTTP " + strconv.Itoa(r.status)
	}
	return ""
}

// post sends one attempt, signed with every signing secret (both during a
// rotation's overlap) and its own timestamp.
func (e *Engine) post(ctx context.Context, ep *endpointItem, m message, timeout time.Duration) result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(m.body))
	if err != nil {
		return result{err: err}
	}
	now := e.cfg.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scimgate-webhook")
	req.Header.Set(events.HeaderID, m.id)
	req.Header.Set(events.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	var sigs []string
	for _, s := range ep.signingSecrets(now) {
		sigs = append(sigs, s.Sign(m.id, now.Unix(), m.body))
	}
	req.Header.Set(events.HeaderSignature, strings.Join(sigs, " "))
	start := time.Now()
	resp, err := e.cfg.Client.Do(req)
	lat := time.Since(start)
	if err != nil {
		return result{err: err, latency: lat}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	r := result{status: resp.StatusCode, latency: lat}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		r.retryAfter = time.Duration(s) * time.Second
	}
	return r
}

func (e *Engine) logAttempt(ctx context.Context, id string, m message, attempt int, r result, outcome string) {
	now := e.cfg.Now().UTC()
	// Shown to the millisecond, as every time of the admin API and the CLI;
	// the key keeps the full clock so that attempts stay apart and ordered.
	a := Attempt{RecordID: m.id, Attempt: attempt, Status: r.status, LatencyMS: float64(r.latency.Microseconds()) / 1000,
		Error: r.errText(), Time: now.Truncate(time.Millisecond), Tenant: m.conn.Tenant, SSO: m.conn.SSO, Outcome: outcome}
	b, _ := json.Marshal(a)
	key := fmt.Sprintf("%s%s/%s/%06d", prefixLog, now.Format("20060102T150405.000000000Z"), m.id, attempt)
	if err := e.cfg.Store.PutWebhookItem(ctx, endpointPartition(id), Item{Key: key, Body: b, Expires: now.Add(e.cfg.LogRetention)}); err != nil && ctx.Err() == nil {
		e.cfg.Logger.Error("webhook: write delivery log", "endpoint", id, "error", err.Error())
	}
}

// backoff is BackoffBase·2^attempt capped at BackoffMax, drawn in its
// upper half (jitter), never shorter than a Retry-After up to BackoffMax.
func (e *Engine) backoff(attempt int, retryAfter time.Duration) time.Duration {
	wait := e.cfg.BackoffMax
	if attempt < 30 {
		wait = min(e.cfg.BackoffBase<<attempt, e.cfg.BackoffMax)
	}
	wait = wait/2 + rand.N(wait/2+1)
	return min(max(wait, retryAfter), e.cfg.BackoffMax)
}

// health is an endpoint's shared failure state: while failing, one prober
// re-sends the last failing message every ProbeInterval; its first 2xx
// (or any lane's) closes wake, and every waiting lane retries at once.
type health struct {
	mu      sync.Mutex
	failed  bool
	probing bool
	probe   message
	wake    chan struct{}
}

// failing marks the endpoint failing with m as the probe, starts the
// prober if none runs, and returns the channel closed on recovery.
func (h *health) failing(e *Engine, ctx context.Context, id string, m message) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed, h.probe = true, m
	if !h.probing {
		h.probing = true
		e.wg.Add(1)
		go func() { defer e.wg.Done(); e.probeLoop(ctx, id, h) }()
	}
	return h.wake
}

func (h *health) recovered() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed {
		h.failed = false
		close(h.wake)
		h.wake = make(chan struct{})
	}
}

func (e *Engine) probeLoop(ctx context.Context, id string, h *health) {
	// probing is cleared under the same lock as the check of failed, so a
	// failure reported meanwhile either is seen here or starts a new prober.
	stop := func() { h.mu.Lock(); h.probing = false; h.mu.Unlock() }
	for {
		if sleep(ctx, e.cfg.ProbeInterval) != nil {
			stop()
			return
		}
		h.mu.Lock()
		failed, m := h.failed, h.probe
		if !failed {
			h.probing = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		ep, err := loadEndpoint(ctx, e.cfg.Store, id)
		if err != nil || !ep.Enabled {
			stop()
			return
		}
		res := e.post(ctx, ep, m, e.cfg.ProbeTimeout)
		e.logAttempt(ctx, id, m, 0, res, "probe")
		if res.ok() {
			h.recovered()
		}
	}
}

func (e *Engine) startDeadLetterReplay(ctx context.Context, ep *endpointItem) {
	if ep.DeadLetterReplaySeq == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.replays[ep.ID] {
		return
	}
	e.replays[ep.ID] = true
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() { e.mu.Lock(); delete(e.replays, ep.ID); e.mu.Unlock() }()
		if err := e.ReplayDeadLetters(ctx, ep.ID); err != nil && ctx.Err() == nil {
			e.cfg.Logger.Error("webhook: replay dead letters", "endpoint", ep.ID, "error", err.Error())
		}
	}()
}

// ReplayDeadLetters serves a pending dead-letter replay request of the
// endpoint: each dead letter is sent once; those accepted leave the dead
// letters, the others stay for a later replay.
func (e *Engine) ReplayDeadLetters(ctx context.Context, id string) error {
	ep, err := loadEndpoint(ctx, e.cfg.Store, id)
	if err != nil {
		return err
	}
	part := endpointPartition(id)
	var done position
	if item, err := e.cfg.Store.GetWebhookItem(ctx, part, prefixState); err == nil {
		_ = json.Unmarshal(item.Body, &done)
	} else if !scim.IsNotFound(err) {
		return err
	}
	if ep.DeadLetterReplaySeq <= done.Seq {
		return nil
	}
	dls, err := listDeadLetters(ctx, e.cfg.Store, id)
	if err != nil {
		return err
	}
	for _, d := range dls {
		m := message{id: d.RecordID, body: d.Record, conn: changes.Conn{Tenant: d.Tenant, SSO: d.SSO}}
		res := e.post(ctx, ep, m, e.cfg.RequestTimeout)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !res.ok() {
			e.logAttempt(ctx, id, m, d.Attempts+1, res, "dead_letter")
			continue
		}
		e.logAttempt(ctx, id, m, d.Attempts+1, res, "delivered")
		if err := e.cfg.Store.DeleteWebhookItem(ctx, part, prefixDeadLetter+d.RecordID); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(position{Seq: ep.DeadLetterReplaySeq})
	return e.cfg.Store.PutWebhookItem(ctx, part, Item{Key: prefixState, Body: b})
}

// pruneLogs deletes expired delivery log items of every endpoint.
func (e *Engine) pruneLogs(ctx context.Context) {
	eps, err := listEndpoints(ctx, e.cfg.Store)
	if err != nil {
		return
	}
	now := e.cfg.Now()
	for _, ep := range eps {
		after := ""
		for {
			items, err := e.cfg.Store.ListWebhookItems(ctx, endpointPartition(ep.ID), prefixLog, after, 500)
			if err != nil {
				break
			}
			for _, it := range items {
				after = it.Key
				if !it.Expires.IsZero() && !now.Before(it.Expires) {
					_ = e.cfg.Store.DeleteWebhookItem(ctx, endpointPartition(ep.ID), it.Key)
				}
			}
			if len(items) < 500 {
				break
			}
		}
	}
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

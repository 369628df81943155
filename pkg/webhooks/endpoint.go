package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/events"
	"github.com/scimgate/scimgate/pkg/scim"
)

// Defaults of the endpoint service.
const (
	// DefaultSecretOverlap is how long the previous secret keeps signing
	// after a rotation, so that a receiver can deploy the new one without
	// refusing a delivery (Standard Webhooks, "Signature scheme": several
	// space-delimited signatures).
	DefaultSecretOverlap = 24 * time.Hour
	// DefaultLogRetention is how long the delivery log keeps an attempt.
	DefaultLogRetention = 7 * 24 * time.Hour
	secretBytes         = 32
	maxURLLength        = 2048
	maxConnections      = 100
)

// Conn names a connection an endpoint follows.
type Conn struct {
	Tenant string `json:"tenant"`
	SSO    string `json:"sso"`
}

// Endpoint is a webhook endpoint as the admin API and the CLI show it: its
// secrets never appear, only when the previous one stops signing.
type Endpoint struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Types are record types or prefix patterns ("group.*"); empty: all.
	Types []string `json:"types"`
	// Connections limits the endpoint to these connections; empty: all.
	Connections []Conn    `json:"connections"`
	Enabled     bool      `json:"enabled"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	// PreviousSecretExpires is when the secret before the last rotation
	// stops signing; null when only one secret signs.
	PreviousSecretExpires *time.Time `json:"previous_secret_expires"`
	// ReplaySeq counts replay requests; the engine moves every position of
	// the endpoint to ReplayAfter when it sees a new one.
	ReplaySeq   int64  `json:"replay_seq"`
	ReplayAfter string `json:"replay_after"`
	// DeadLetterReplaySeq counts requests to re-send the dead letters.
	DeadLetterReplaySeq int64 `json:"dead_letter_replay_seq"`
	// InitialCursor, when set, names the legacy change-feed consumer whose
	// cursors a new position starts from (the --webhook-url shortcut keeps
	// its place across the upgrade); otherwise a new endpoint starts at its
	// creation time.
	InitialCursor string `json:"initial_cursor,omitempty"`
}

// storedSecret is one signing secret. The secret itself must be kept:
// unlike a bearer token, which is checked against its hash, an HMAC needs
// the key to sign.
type storedSecret struct {
	Key     string     `json:"key"`
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires,omitempty"`
}

// endpointItem is what the store keeps for an endpoint.
type endpointItem struct {
	Endpoint
	Secrets []storedSecret `json:"secrets"`
}

// WithSecret is an endpoint as created or rotated: the new secret is shown
// this once.
type WithSecret struct {
	Endpoint
	Secret string `json:"secret"`
}

// Covers reports whether the endpoint follows conn.
func (e *Endpoint) Covers(c changes.Conn) bool {
	if len(e.Connections) == 0 {
		return true
	}
	return slices.Contains(e.Connections, Conn{Tenant: c.Tenant, SSO: c.SSO})
}

// Wants reports whether the endpoint takes records of type t.
func (e *Endpoint) Wants(t changes.Type) bool {
	if len(e.Types) == 0 {
		return true
	}
	for _, p := range e.Types {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(string(t), prefix) || p == string(t) {
			return true
		}
	}
	return false
}

// signingSecrets are the secrets that sign at now: the current one and,
// during an overlap, the previous.
func (it *endpointItem) signingSecrets(now time.Time) []events.Secret {
	var out []events.Secret
	for _, s := range it.Secrets {
		if s.Expires != nil && !now.Before(*s.Expires) {
			continue
		}
		if k, err := events.ParseSecret(s.Key); err == nil {
			out = append(out, k)
		}
	}
	return out
}

func (it *endpointItem) view(now time.Time) Endpoint {
	e := it.Endpoint
	e.PreviousSecretExpires = nil
	for _, s := range it.Secrets {
		if s.Expires != nil && now.Before(*s.Expires) {
			t := *s.Expires
			e.PreviousSecretExpires = &t
		}
	}
	if e.Types == nil {
		e.Types = []string{}
	}
	if e.Connections == nil {
		e.Connections = []Conn{}
	}
	return e
}

// Service manages endpoints on a Store.
type Service struct {
	Store Store
	// Now is the clock (time.Now when nil); Random the secrets' and ids'
	// entropy (crypto/rand when nil).
	Now    func() time.Time
	Random io.Reader
	// SecretOverlap and LogRetention: DefaultSecretOverlap and
	// DefaultLogRetention when zero.
	SecretOverlap, LogRetention time.Duration
}

// now is UTC to the millisecond, the precision of the change records and of
// every other time the admin API and the CLI show.
func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC().Truncate(time.Millisecond)
	}
	return s.Now().UTC().Truncate(time.Millisecond)
}

func (s *Service) random(n int) ([]byte, error) {
	b := make([]byte, n)
	r := s.Random
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("webhook: random bytes: %w", err)
	}
	return b, nil
}

func (s *Service) newSecret(now time.Time) (storedSecret, error) {
	b, err := s.random(secretBytes)
	if err != nil {
		return storedSecret{}, err
	}
	return storedSecret{Key: events.Secret(b).String(), Created: now}, nil
}

// Input is what create and update accept; on update a nil field is kept.
type Input struct {
	URL         *string   `json:"url"`
	Types       *[]string `json:"types"`
	Connections *[]Conn   `json:"connections"`
	Enabled     *bool     `json:"enabled"`
}

func checkURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || len(u) > maxURLLength {
		return scim.Errorf(scim.EInvalidValue, "url %q must be an absolute http or https URL of at most %d characters", u, maxURLLength)
	}
	return nil
}

// CheckTypes validates type patterns: each a record type or a prefix
// ending in * that matches at least one.
func CheckTypes(types []string) error {
	for _, t := range types {
		if _, err := changes.ParseTypes(t); err != nil || strings.TrimSpace(t) == "" || strings.Contains(t, ",") {
			return scim.Errorf(scim.EInvalidValue, "types: %q is not a record type or a prefix pattern such as group.*", t)
		}
	}
	return nil
}

func checkConns(conns []Conn) error {
	if len(conns) > maxConnections {
		return scim.Errorf(scim.EInvalidValue, "connections: at most %d", maxConnections)
	}
	for _, c := range conns {
		if err := (scim.Connection{Tenant: c.Tenant, SSO: c.SSO}).Validate(); err != nil {
			return scim.Errorf(scim.EInvalidValue, "connections: %s", scim.ErrorDetailOf(err))
		}
	}
	return nil
}

func (in Input) apply(e *Endpoint) error {
	if in.URL != nil {
		if err := checkURL(*in.URL); err != nil {
			return err
		}
		e.URL = *in.URL
	}
	if in.Types != nil {
		if err := CheckTypes(*in.Types); err != nil {
			return err
		}
		e.Types = slices.Clone(*in.Types)
	}
	if in.Connections != nil {
		if err := checkConns(*in.Connections); err != nil {
			return err
		}
		e.Connections = slices.Clone(*in.Connections)
	}
	if in.Enabled != nil {
		e.Enabled = *in.Enabled
	}
	return nil
}

// Create adds an endpoint, enabled unless in says otherwise, and returns
// it with its secret.
func (s *Service) Create(ctx context.Context, in Input) (*WithSecret, error) {
	if in.URL == nil {
		return nil, scim.Errorf(scim.EInvalidValue, "url is required")
	}
	now := s.now()
	idb, err := s.random(10)
	if err != nil {
		return nil, err
	}
	it := &endpointItem{Endpoint: Endpoint{ID: "wh_" + hex.EncodeToString(idb), Enabled: true, Created: now, Updated: now}}
	if err := in.apply(&it.Endpoint); err != nil {
		return nil, err
	}
	sec, err := s.newSecret(now)
	if err != nil {
		return nil, err
	}
	it.Secrets = []storedSecret{sec}
	if err := s.put(ctx, it); err != nil {
		return nil, err
	}
	return &WithSecret{Endpoint: it.view(now), Secret: sec.Key}, nil
}

// Ensure creates or replaces the endpoint id with url and one secret:
// serve's --webhook-url shortcut, whose secret comes from a file.
func (s *Service) Ensure(ctx context.Context, id, u string, secret events.Secret, initialCursor string) error {
	if err := checkURL(u); err != nil {
		return err
	}
	now := s.now()
	it, err := s.load(ctx, id)
	if err != nil && !scim.IsNotFound(err) {
		return err
	}
	if it == nil {
		it = &endpointItem{Endpoint: Endpoint{ID: id, Created: now, InitialCursor: initialCursor}}
	}
	it.URL, it.Enabled, it.Updated, it.Types, it.Connections = u, true, now, nil, nil
	if len(it.Secrets) != 1 || it.Secrets[0].Key != secret.String() {
		it.Secrets = []storedSecret{{Key: secret.String(), Created: now}}
	}
	return s.put(ctx, it)
}

func (s *Service) put(ctx context.Context, it *endpointItem) error {
	b, err := json.Marshal(it)
	if err != nil {
		return fmt.Errorf("encode endpoint %s: %w", it.ID, err)
	}
	if err := s.Store.PutWebhookItem(ctx, PartitionEndpoints, Item{Key: it.ID, Body: b}); err != nil {
		return fmt.Errorf("put endpoint %s: %w", it.ID, err)
	}
	return nil
}

func (s *Service) load(ctx context.Context, id string) (*endpointItem, error) {
	return loadEndpoint(ctx, s.Store, id)
}

func loadEndpoint(ctx context.Context, st Store, id string) (*endpointItem, error) {
	if id == "" || len(id) > 64 {
		return nil, scim.Errorf(scim.ENotFound, "webhook endpoint %q not found", id)
	}
	item, err := st.GetWebhookItem(ctx, PartitionEndpoints, id)
	if err != nil {
		if scim.IsNotFound(err) {
			return nil, scim.Errorf(scim.ENotFound, "webhook endpoint %q not found", id)
		}
		return nil, fmt.Errorf("get endpoint %s: %w", id, err)
	}
	var it endpointItem
	if err := json.Unmarshal(item.Body, &it); err != nil {
		return nil, fmt.Errorf("decode endpoint %s: %w", id, err)
	}
	return &it, nil
}

func listEndpoints(ctx context.Context, st Store) ([]*endpointItem, error) {
	var out []*endpointItem
	after := ""
	for {
		items, err := st.ListWebhookItems(ctx, PartitionEndpoints, "", after, 100)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		for _, item := range items {
			var it endpointItem
			if err := json.Unmarshal(item.Body, &it); err != nil {
				return nil, fmt.Errorf("decode endpoint %s: %w", item.Key, err)
			}
			out = append(out, &it)
			after = item.Key
		}
		if len(items) < 100 {
			return out, nil
		}
	}
}

// List returns every endpoint, by id.
func (s *Service) List(ctx context.Context) ([]Endpoint, error) {
	its, err := listEndpoints(ctx, s.Store)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]Endpoint, 0, len(its))
	for _, it := range its {
		out = append(out, it.view(now))
	}
	return out, nil
}

// Get returns one endpoint.
func (s *Service) Get(ctx context.Context, id string) (*Endpoint, error) {
	it, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	e := it.view(s.now())
	return &e, nil
}

// update loads, changes and stores an endpoint.
func (s *Service) update(ctx context.Context, id string, fn func(it *endpointItem, now time.Time) error) (*endpointItem, error) {
	it, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := fn(it, now); err != nil {
		return nil, err
	}
	it.Updated = now
	return it, s.put(ctx, it)
}

// Update changes the fields in is set.
func (s *Service) Update(ctx context.Context, id string, in Input) (*Endpoint, error) {
	it, err := s.update(ctx, id, func(it *endpointItem, _ time.Time) error { return in.apply(&it.Endpoint) })
	if err != nil {
		return nil, err
	}
	e := it.view(s.now())
	return &e, nil
}

// RotateSecret makes a new secret the current one; the previous keeps
// signing for the overlap (both signatures are sent), older ones stop.
func (s *Service) RotateSecret(ctx context.Context, id string) (*WithSecret, error) {
	var sec storedSecret
	it, err := s.update(ctx, id, func(it *endpointItem, now time.Time) error {
		var err error
		if sec, err = s.newSecret(now); err != nil {
			return err
		}
		overlap := s.SecretOverlap
		if overlap <= 0 {
			overlap = DefaultSecretOverlap
		}
		expires := now.Add(overlap)
		var keep []storedSecret
		for _, old := range it.Secrets {
			if old.Expires == nil {
				old.Expires = &expires
			}
			if now.Before(*old.Expires) {
				keep = append(keep, old)
			}
		}
		it.Secrets = append(keep, sec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &WithSecret{Endpoint: it.view(s.now()), Secret: sec.Key}, nil
}

// Replay asks the engine to re-send every record after the record id
// after ("" from the oldest kept) on every connection of the endpoint.
func (s *Service) Replay(ctx context.Context, id, after string) (*Endpoint, error) {
	if after != "" && !changes.ValidID(after) {
		return nil, scim.Errorf(scim.EInvalidValue, "after %q is not a record id (26 characters, as events list prints them)", after)
	}
	it, err := s.update(ctx, id, func(it *endpointItem, _ time.Time) error {
		it.ReplaySeq++
		it.ReplayAfter = after
		return nil
	})
	if err != nil {
		return nil, err
	}
	e := it.view(s.now())
	return &e, nil
}

// ReplayDeadLetters asks the engine to re-send the endpoint's dead letters.
func (s *Service) ReplayDeadLetters(ctx context.Context, id string) (*Endpoint, error) {
	it, err := s.update(ctx, id, func(it *endpointItem, _ time.Time) error {
		it.DeadLetterReplaySeq++
		return nil
	})
	if err != nil {
		return nil, err
	}
	e := it.view(s.now())
	return &e, nil
}

// Delete removes the endpoint and everything kept for it.
func (s *Service) Delete(ctx context.Context, id string) error {
	if _, err := s.load(ctx, id); err != nil {
		return err
	}
	if err := s.Store.DeleteWebhookItem(ctx, PartitionEndpoints, id); err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	part := endpointPartition(id)
	for {
		items, err := s.Store.ListWebhookItems(ctx, part, "", "", 100)
		if err != nil {
			return fmt.Errorf("delete endpoint %s: %w", id, err)
		}
		for _, it := range items {
			if err := s.Store.DeleteWebhookItem(ctx, part, it.Key); err != nil {
				return fmt.Errorf("delete endpoint %s: %w", id, err)
			}
		}
		if len(items) == 0 {
			return nil
		}
	}
}

// Attempt is one delivery attempt in an endpoint's log.
type Attempt struct {
	RecordID  string    `json:"record_id"`
	Attempt   int       `json:"attempt"`
	Status    int       `json:"status"` // 0: no answer
	LatencyMS float64   `json:"latency_ms"`
	Error     string    `json:"error"`
	Time      time.Time `json:"time"`
	Tenant    string    `json:"tenant"`
	SSO       string    `json:"sso"`
	// Outcome is delivered, retry, dead_letter or probe.
	Outcome string `json:"outcome"`
}

// DeadLetter is a record the endpoint refused for the whole retry bound.
type DeadLetter struct {
	RecordID   string          `json:"record_id"`
	Tenant     string          `json:"tenant"`
	SSO        string          `json:"sso"`
	Type       changes.Type    `json:"type"`
	Time       time.Time       `json:"time"`
	Attempts   int             `json:"attempts"`
	LastStatus int             `json:"last_status"`
	LastError  string          `json:"last_error"`
	Record     json.RawMessage `json:"record"`
}

// Deliveries returns up to limit attempts of the log after the cursor
// after ("" from the oldest kept), oldest first, and the next cursor.
func (s *Service) Deliveries(ctx context.Context, id, after string, limit int) ([]Attempt, string, error) {
	if _, err := s.load(ctx, id); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	now := s.now()
	var out []Attempt
	next := after
	for len(out) < limit {
		items, err := s.Store.ListWebhookItems(ctx, endpointPartition(id), prefixLog, next, limit)
		if err != nil {
			return nil, "", fmt.Errorf("list deliveries of %s: %w", id, err)
		}
		for _, item := range items {
			next = item.Key
			if !item.Expires.IsZero() && !now.Before(item.Expires) {
				continue
			}
			var a Attempt
			if err := json.Unmarshal(item.Body, &a); err != nil {
				return nil, "", fmt.Errorf("decode delivery of %s: %w", id, err)
			}
			out = append(out, a)
			if len(out) == limit {
				break
			}
		}
		if len(items) < limit {
			break
		}
	}
	return out, next, nil
}

// DeadLetters returns the endpoint's dead letters, by record id.
func (s *Service) DeadLetters(ctx context.Context, id string) ([]DeadLetter, error) {
	if _, err := s.load(ctx, id); err != nil {
		return nil, err
	}
	return listDeadLetters(ctx, s.Store, id)
}

func listDeadLetters(ctx context.Context, st Store, id string) ([]DeadLetter, error) {
	var out []DeadLetter
	after := ""
	for {
		items, err := st.ListWebhookItems(ctx, endpointPartition(id), prefixDeadLetter, after, 100)
		if err != nil {
			return nil, fmt.Errorf("list dead letters of %s: %w", id, err)
		}
		for _, item := range items {
			var d DeadLetter
			if err := json.Unmarshal(item.Body, &d); err != nil {
				return nil, fmt.Errorf("decode dead letter of %s: %w", id, err)
			}
			out = append(out, d)
			after = item.Key
		}
		if len(items) < 100 {
			return out, nil
		}
	}
}

// errGone ends a lane whose endpoint was deleted or disabled.
var errGone = errors.New("webhook endpoint gone or disabled")

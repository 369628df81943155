package admin

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

// PurgeBatch is how many items one purge step erases: small enough that a
// step is a few DynamoDB requests (4 BatchWriteItem) and a crash loses
// nothing but the step's own progress.
const PurgeBatch = 100

// Service runs the admin operations.
type Service struct{ cfg Config }

// New returns a Service on cfg.Store; a nil Clock is time.Now.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Actor == "" {
		cfg.Actor = "cli"
	}
	if cfg.NewChangeID == nil {
		cfg.NewChangeID = defaultChangeIDs
	}
	return &Service{cfg: cfg}
}

// defaultChangeIDs is one generator per process, so its ids increase within it.
var defaultChangeIDs = changes.NewIDGenerator(nil)

// journal returns ctx with the journal the store writes this operation's
// connection.* and token.* records with, in the operation's own atomic step.
func (s *Service) journal(ctx context.Context) context.Context {
	origin := changes.OriginFrom(ctx)
	if origin.Actor == "" {
		origin.Actor = changes.AdminActor(s.cfg.Actor)
	}
	return auth.WithJournal(ctx, &auth.Journal{
		Origin: origin, NewID: s.cfg.NewChangeID, At: s.now(),
		ConnectionView: func(c auth.ConnectionRecord) any { return s.connection(&c) },
		TokenView:      func(t auth.TokenInfo) any { return token(t) },
	})
}

// BaseURL is the SCIM base URL the IdP admin pastes for conn, on publicURL
// (scheme and host, no trailing slash).
func BaseURL(publicURL string, conn scim.Connection) string {
	return publicURL + "/scim/v2/" + conn.Tenant + "/" + conn.SSO
}

// now is the service's time, UTC to the millisecond: what it stores is what
// it shows.
func (s *Service) now() time.Time { return stamp(s.cfg.Clock()) }

// stamp is a time as the admin surfaces show it: RFC 3339 in UTC to the
// millisecond, as the change records and SCIM's meta show theirs, never the
// nanoseconds a store may hold.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func (s *Service) connection(c *auth.ConnectionRecord) Connection {
	return Connection{
		Tenant: c.Conn.Tenant, SSO: c.Conn.SSO, Name: c.Name, State: c.State, Created: stamp(c.Created),
		BaseURL: BaseURL(s.cfg.PublicURL, c.Conn),
	}
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = stamp(t)
	return &t
}

func token(t auth.TokenInfo) Token {
	return Token{
		ID: t.ID, Created: stamp(t.Created), Expires: optionalTime(t.Expires), LastUsed: optionalTime(t.LastUsed),
		Revoked: optionalTime(t.Revoked), Description: t.Description,
	}
}

// maxNameLength and maxDescriptionLength bound the free texts a person
// gives a connection or a token (they are shown in tables, not documents).
const (
	maxNameLength        = 200
	maxDescriptionLength = 500
)

// checkText refuses a free text that is too long or holds control
// characters (a line break would break the CLI's tables and log lines).
func checkText(field, v string, maxLen int) error {
	if len(v) > maxLen {
		return scim.Errorf(scim.EInvalidValue, "%s is longer than %d bytes", field, maxLen)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return scim.Errorf(scim.EInvalidValue, "%s must be UTF-8 text without control characters", field)
	}
	return nil
}

// newToken builds a token for conn from opts: a random secret unless the
// caller brought one (local fixtures).
func (s *Service) newToken(conn scim.Connection, opts TokenOptions, now time.Time) (auth.TokenInfo, string, error) {
	if err := checkText("description", opts.Description, maxDescriptionLength); err != nil {
		return auth.TokenInfo{}, "", err
	}
	if !opts.Expires.IsZero() && !opts.Expires.After(now) {
		return auth.TokenInfo{}, "", scim.Errorf(scim.EInvalidValue, "expires %s is not in the future", opts.Expires.Format(time.RFC3339))
	}
	secret := opts.Secret
	if secret == "" {
		var err error
		if secret, err = auth.NewSecret(); err != nil {
			return auth.TokenInfo{}, "", err
		}
	} else if err := auth.CheckSecret(secret); err != nil {
		return auth.TokenInfo{}, "", err
	}
	t := auth.NewTokenInfo(conn, secret, now)
	if !opts.Expires.IsZero() {
		t.Expires = opts.Expires.UTC()
	}
	t.Description = opts.Description
	return t, secret, nil
}

// CreateConnection creates a live connection with its first token.
func (s *Service) CreateConnection(ctx context.Context, conn scim.Connection, name string, opts TokenOptions) (*CreatedConnection, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	if err := checkText("name", name, maxNameLength); err != nil {
		return nil, err
	}
	now := s.now()
	first, secret, err := s.newToken(conn, opts, now)
	if err != nil {
		return nil, err
	}
	rec := auth.ConnectionRecord{Conn: conn, Name: name, State: auth.StateActive, Created: now}
	if err := s.cfg.Store.CreateConnection(s.journal(ctx), rec, first); err != nil {
		if scim.ErrorCodeOf(err) == scim.EUniqueness {
			// A deleted connection keeps its ids until it is purged (its data
			// is retained for audit): say so, and how to free them.
			if old, lerr := s.cfg.Store.LookupConnection(ctx, conn); lerr == nil && !old.Deleted.IsZero() {
				return nil, scim.Errorf(scim.EUniqueness, "connection %s was deleted, not purged: its data is kept for audit; purge it first (scimgate connection purge --tenant %s --sso %s --yes) to reuse its ids",
					conn, conn.Tenant, conn.SSO)
			}
		}
		return nil, fmt.Errorf("create connection %s: %w", conn, err)
	}
	return &CreatedConnection{Connection: s.connection(&rec), TokenID: first.ID, Token: secret}, nil
}

// ListConnections lists live connections, of one tenant or ("") all.
func (s *Service) ListConnections(ctx context.Context, tenant string) ([]Connection, error) {
	recs, err := s.cfg.Store.ListConnections(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	out := make([]Connection, 0, len(recs))
	for i := range recs {
		out = append(out, s.connection(&recs[i]))
	}
	return out, nil
}

// GetConnection returns one live connection.
func (s *Service) GetConnection(ctx context.Context, conn scim.Connection) (*Connection, error) {
	rec, err := s.cfg.Store.GetConnection(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("get connection %s: %w", conn, err)
	}
	c := s.connection(rec)
	return &c, nil
}

// ShowConnection returns a connection with its counts and tokens.
func (s *Service) ShowConnection(ctx context.Context, conn scim.Connection) (*ConnectionDetail, error) {
	c, err := s.GetConnection(ctx, conn)
	if err != nil {
		return nil, err
	}
	d := &ConnectionDetail{Connection: *c}
	if d.Users, d.Groups, err = s.cfg.Store.CountResources(ctx, conn); err != nil {
		return nil, fmt.Errorf("show connection %s: %w", conn, err)
	}
	if d.Tokens, err = s.listTokens(ctx, conn); err != nil {
		return nil, err
	}
	return d, nil
}

// SetState disables or enables a connection and returns it.
func (s *Service) SetState(ctx context.Context, conn scim.Connection, state auth.ConnectionState) (*Connection, error) {
	if !state.Valid() {
		return nil, scim.Errorf(scim.EInvalidValue, "state must be %q or %q, not %q", auth.StateActive, auth.StateDisabled, state)
	}
	if err := s.cfg.Store.SetConnectionState(s.journal(ctx), conn, state); err != nil {
		return nil, fmt.Errorf("set state of connection %s: %w", conn, err)
	}
	return s.GetConnection(ctx, conn)
}

// DeleteConnection removes a connection and all its resources from every API.
func (s *Service) DeleteConnection(ctx context.Context, conn scim.Connection) error {
	if err := s.cfg.Store.DeleteConnection(s.journal(ctx), conn, s.now()); err != nil {
		return fmt.Errorf("delete connection %s: %w", conn, err)
	}
	return nil
}

// PurgeConnection erases every item of the connection in bounded batches,
// reporting each step to progress (may be nil); it returns the total erased.
// A live connection is deleted first, so that its tokens stop working
// before its data starts to go. Running it again after an interruption
// finishes the job; ENotFound once nothing of the connection is left.
func (s *Service) PurgeConnection(ctx context.Context, conn scim.Connection, progress func(auth.PurgeProgress)) (int, error) {
	rec, err := s.cfg.Store.LookupConnection(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("purge connection %s: %w", conn, err)
	}
	if rec.Live() {
		if err := s.DeleteConnection(ctx, conn); err != nil && !scim.IsNotFound(err) {
			return 0, err
		}
	}
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("purge connection %s: %w", conn, err)
		}
		p, err := s.cfg.Store.PurgeConnection(ctx, conn, PurgeBatch)
		total += p.Deleted
		if err != nil {
			return total, fmt.Errorf("purge connection %s: %w", conn, err)
		}
		if progress != nil {
			progress(p)
		}
		if p.Done {
			return total, nil
		}
	}
}

// CreateToken adds a token to conn, creating the connection if it does not
// exist yet (what `scimgate token create` has always done).
func (s *Service) CreateToken(ctx context.Context, conn scim.Connection, opts TokenOptions) (*NewToken, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	t, secret, err := s.newToken(conn, opts, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.AddToken(s.journal(ctx), t); err != nil {
		return nil, fmt.Errorf("create token for %s: %w", conn, err)
	}
	return &NewToken{Token: token(t), Secret: secret}, nil
}

// ListTokens lists conn's tokens, oldest first.
func (s *Service) ListTokens(ctx context.Context, conn scim.Connection) ([]Token, error) {
	if _, err := s.GetConnection(ctx, conn); err != nil {
		return nil, err
	}
	return s.listTokens(ctx, conn)
}

func (s *Service) listTokens(ctx context.Context, conn scim.Connection) ([]Token, error) {
	toks, err := s.cfg.Store.ListTokens(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", conn, err)
	}
	out := make([]Token, 0, len(toks))
	for _, t := range toks {
		out = append(out, token(t))
	}
	return out, nil
}

// inherit fills what a rotation leaves unset from the token it replaces:
// its description, and its lifetime (expiry minus creation) counted from
// now, so that rotating an expiring token never yields one that never
// expires. An unknown id is left for the store's rotation to refuse.
func (s *Service) inherit(ctx context.Context, conn scim.Connection, id string, opts TokenOptions, now time.Time) (TokenOptions, error) {
	if opts.Description != "" && !opts.Expires.IsZero() {
		return opts, nil
	}
	toks, err := s.cfg.Store.ListTokens(ctx, conn)
	if err != nil {
		return opts, fmt.Errorf("rotate token %s of %s: %w", id, conn, err)
	}
	for _, t := range toks {
		if t.ID != id {
			continue
		}
		if opts.Description == "" {
			opts.Description = t.Description
		}
		if opts.Expires.IsZero() && !t.Expires.IsZero() {
			opts.Expires = now.Add(t.Expires.Sub(t.Created))
		}
	}
	return opts, nil
}

// RotateToken creates a new token and lets the old one expire after overlap
// (DefaultRotationOverlap when zero), or at its own expiry if that comes
// sooner. Rotating a revoked token is refused: it must not live on.
func (s *Service) RotateToken(ctx context.Context, conn scim.Connection, id string, overlap time.Duration, opts TokenOptions) (*Rotated, error) {
	if overlap < 0 {
		return nil, scim.Errorf(scim.EInvalidValue, "overlap must not be negative, not %s", overlap)
	}
	if overlap == 0 {
		overlap = DefaultRotationOverlap
	}
	now := s.now()
	opts, err := s.inherit(ctx, conn, id, opts, now)
	if err != nil {
		return nil, err
	}
	next, secret, err := s.newToken(conn, opts, now)
	if err != nil {
		return nil, err
	}
	// The store keeps the old token's expiry if it comes sooner, checks that
	// it is not revoked and that the connection is live, atomically.
	expires, err := s.cfg.Store.RotateToken(s.journal(ctx), conn, id, now.Add(overlap), next)
	if err != nil {
		return nil, fmt.Errorf("rotate token %s of %s: %w", id, conn, err)
	}
	return &Rotated{New: NewToken{Token: token(next), Secret: secret}, OldID: id, OldExpires: stamp(expires)}, nil
}

// RevokeToken revokes a token at once and returns it.
func (s *Service) RevokeToken(ctx context.Context, conn scim.Connection, id string) (*Token, error) {
	if _, err := s.GetConnection(ctx, conn); err != nil {
		return nil, err
	}
	t, err := s.cfg.Store.RevokeToken(s.journal(ctx), conn, id, s.now())
	if err != nil {
		return nil, fmt.Errorf("revoke token %s of %s: %w", id, conn, err)
	}
	out := token(*t)
	return &out, nil
}

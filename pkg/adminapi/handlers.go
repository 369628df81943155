package adminapi

import (
	"net/http"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/auth"
)

// createConnectionRequest is the body of POST /admin/v1/connections.
type createConnectionRequest struct {
	Tenant string `json:"tenant"`
	SSO    string `json:"sso"`
	Name   string `json:"name"`
	// The first token's options, as for POST .../tokens.
	ExpiresIn   string `json:"expires_in"`
	Description string `json:"description"`
}

// tokenRequest is the body of POST .../tokens, optional.
type tokenRequest struct {
	// ExpiresIn is a Go duration with a "d" suffix for days ("90d",
	// "24h") or an RFC 3339 time; empty: the token never expires.
	ExpiresIn   string `json:"expires_in"`
	Description string `json:"description"`
}

// rotateRequest is the body of POST .../tokens/{id}/rotate, optional.
type rotateRequest struct {
	// Overlap is how long the old token keeps working (Go duration or
	// "d" days); empty: admin.DefaultRotationOverlap.
	Overlap     string `json:"overlap"`
	ExpiresIn   string `json:"expires_in"`
	Description string `json:"description"`
}

// stateRequest is the body of PATCH /admin/v1/connections/{tenant}/{sso}.
type stateRequest struct {
	State *string `json:"state"`
}

// ConnectionList is the answer to GET /admin/v1/connections.
type ConnectionList struct {
	Connections []admin.Connection `json:"connections"`
}

// TokenList is the answer to GET .../tokens.
type TokenList struct {
	Tokens []admin.Token `json:"tokens"`
}

// Rotation is the answer to a rotation, in the API and in `scimgate token
// rotate --json`: admin.Rotated (the new token under "new", the old token's
// id and new expiry), and at the top level the new token's fields, so that
// .secret reads as from a token creation.
type Rotation struct {
	admin.NewToken
	admin.Rotated
}

// NewRotation builds the answer to a rotation.
func NewRotation(r *admin.Rotated) Rotation { return Rotation{NewToken: r.New, Rotated: *r} }

func (c *call) options(expiresIn, description, field string) (admin.TokenOptions, error) {
	opts := admin.TokenOptions{Description: description}
	if expiresIn != "" {
		t, err := admin.ParseExpiry(expiresIn, c.h.cfg.Clock())
		if err != nil {
			return opts, invalid(field, "%s: %v", field, err)
		}
		opts.Expires = t
	}
	return opts, nil
}

func (c *call) listConnections() error {
	tenant := c.r.URL.Query().Get("tenant")
	if tenant != "" {
		if _, err := connectionOf(tenant, "x"); err != nil {
			return err
		}
	}
	if dedicated := c.h.cfg.DedicatedTenant; dedicated != "" {
		if tenant != "" && tenant != dedicated {
			return writeJSON(c.w, http.StatusOK, ConnectionList{Connections: []admin.Connection{}})
		}
		tenant = dedicated
	}
	list, err := c.svc.ListConnections(c.r.Context(), tenant)
	if err != nil {
		return err
	}
	if list == nil {
		list = []admin.Connection{}
	}
	return writeJSON(c.w, http.StatusOK, ConnectionList{Connections: list})
}

func (c *call) createConnection() error {
	var req createConnectionRequest
	if err := c.decode(&req, false); err != nil {
		return err
	}
	conn, err := connectionOf(req.Tenant, req.SSO)
	if err != nil {
		return err
	}
	if dedicated := c.h.cfg.DedicatedTenant; dedicated != "" && conn.Tenant != dedicated {
		return invalid("tenant", "this deployment serves only tenant %q", dedicated)
	}
	if al, ok := c.r.Context().Value(logKey{}).(*accessLog); ok {
		al.conn = conn
	}
	opts, err := c.options(req.ExpiresIn, req.Description, "expires_in")
	if err != nil {
		return err
	}
	created, err := c.svc.CreateConnection(c.r.Context(), conn, req.Name, opts)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", ViewsPrefix+"/"+conn.Tenant+"/"+conn.SSO)
	return writeJSON(c.w, http.StatusCreated, created)
}

func (c *call) getConnection() error {
	detail, err := c.svc.ShowConnection(c.r.Context(), c.conn)
	if err != nil {
		return err
	}
	if detail.Tokens == nil {
		detail.Tokens = []admin.Token{}
	}
	return writeJSON(c.w, http.StatusOK, detail)
}

func (c *call) setState() error {
	var req stateRequest
	if err := c.decode(&req, false); err != nil {
		return err
	}
	if req.State == nil {
		return invalid("state", `state is required: "active" or "disabled"`)
	}
	state := auth.ConnectionState(*req.State)
	if state != auth.StateActive && state != auth.StateDisabled {
		return invalid("state", `state must be "active" or "disabled"; got %q`, *req.State)
	}
	conn, err := c.svc.SetState(c.r.Context(), c.conn, state)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, conn)
}

func (c *call) deleteConnection() error {
	if err := c.svc.DeleteConnection(c.r.Context(), c.conn); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *call) listTokens() error {
	tokens, err := c.svc.ListTokens(c.r.Context(), c.conn)
	if err != nil {
		return err
	}
	if tokens == nil {
		tokens = []admin.Token{}
	}
	return writeJSON(c.w, http.StatusOK, TokenList{Tokens: tokens})
}

func (c *call) createToken() error {
	var req tokenRequest
	if err := c.decode(&req, true); err != nil {
		return err
	}
	opts, err := c.options(req.ExpiresIn, req.Description, "expires_in")
	if err != nil {
		return err
	}
	// The admin API adds tokens to existing connections only; creating a
	// connection is POST /admin/v1/connections.
	if _, err := c.svc.GetConnection(c.r.Context(), c.conn); err != nil {
		return err
	}
	tok, err := c.svc.CreateToken(c.r.Context(), c.conn, opts)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, tok)
}

func (c *call) rotateToken() error {
	var req rotateRequest
	if err := c.decode(&req, true); err != nil {
		return err
	}
	var overlap time.Duration
	if req.Overlap != "" {
		now := c.h.cfg.Clock()
		// ParseExpiry reads durations with days; an absolute time is not an overlap.
		until, err := admin.ParseExpiry(req.Overlap, now)
		if _, isTime := time.Parse(time.RFC3339, req.Overlap); err != nil || isTime == nil || !until.After(now) {
			return invalid("overlap", "overlap must be a positive duration such as \"24h\" or \"7d\"; got %q", req.Overlap)
		}
		overlap = until.Sub(now)
	}
	opts, err := c.options(req.ExpiresIn, req.Description, "expires_in")
	if err != nil {
		return err
	}
	rotated, err := c.svc.RotateToken(c.r.Context(), c.conn, c.r.PathValue("id"), overlap, opts)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, NewRotation(rotated))
}

func (c *call) revokeToken() error {
	tok, err := c.svc.RevokeToken(c.r.Context(), c.conn, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, tok)
}

// view serves a read-only SCIM view of an existing connection's users or
// groups through the wiring's SCIM handler.
func (c *call) view() error {
	if _, err := c.svc.GetConnection(c.r.Context(), c.conn); err != nil {
		return err
	}
	if c.h.cfg.Views == nil {
		return &apiError{status: http.StatusNotFound, Code: CodeNotFound, Message: "this server has no SCIM views"}
	}
	c.h.cfg.Views.ServeHTTP(c.w, c.r)
	return nil
}

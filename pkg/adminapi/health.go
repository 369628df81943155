package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/scim"
)

// HealthPattern is the sync health of one connection (docs/operations.md,
// "Sync health").
const HealthPattern = connPattern + "/health"

// getHealth serves GET /admin/v1/connections/{tenant}/{sso}/health: the
// buckets every instance flushed for the last day, summed.
func (c *call) getHealth() error {
	if c.h.cfg.Health == nil {
		return &apiError{status: http.StatusNotFound, Code: CodeNotFound, Message: "this deployment keeps no sync health"}
	}
	// An unknown connection is 404, as on every route of a connection.
	if _, err := c.svc.GetConnection(c.r.Context(), c.conn); err != nil {
		return err
	}
	now := c.h.cfg.Clock()
	buckets, err := c.h.cfg.Health.ListHealth(c.r.Context(), c.conn, health.Since(now))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, health.Summarize(c.conn, buckets, now))
}

// HealthReader is the read side of a health.Store.
type HealthReader interface {
	ListHealth(ctx context.Context, conn scim.Connection, since time.Time) ([]health.Bucket, error)
}

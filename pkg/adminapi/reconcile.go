package adminapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/scim"
)

// IdPPattern is a connection's link to its IdP's API; ReconcilePattern its
// drift runs (docs/reconcile.md).
const (
	IdPPattern       = connPattern + "/idp"
	ReconcilePattern = connPattern + "/reconcile"
)

// Reconciler is what the idp and reconcile routes need: *drift.Runner.
type Reconciler interface {
	SetLink(ctx context.Context, conn scim.Connection, l idp.Link) (*idp.Link, error)
	Link(ctx context.Context, conn scim.Connection) (*idp.Link, error)
	ClearLink(ctx context.Context, conn scim.Connection) error
	RunConnection(ctx context.Context, conn scim.Connection, opts drift.Options) (*drift.Report, error)
	LastReport(ctx context.Context, conn scim.Connection) (*drift.Report, error)
}

var _ Reconciler = (*drift.Runner)(nil)

func (c *call) reconciler() (Reconciler, error) {
	if c.h.cfg.Reconcile == nil {
		return nil, &apiError{status: http.StatusNotFound, Code: CodeNotFound, Message: "this deployment does not reconcile against IdPs"}
	}
	return c.h.cfg.Reconcile, nil
}

// setIdPLink serves PUT .../idp: the link as `connection idp show --json`
// prints it (kind, policy, okta or entra), secrets by reference only.
func (c *call) setIdPLink() error {
	r, err := c.reconciler()
	if err != nil {
		return err
	}
	var l idp.Link
	if err := c.decode(&l, false); err != nil {
		return err
	}
	set, err := r.SetLink(c.r.Context(), c.conn, l)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, set)
}

func (c *call) getIdPLink() error {
	r, err := c.reconciler()
	if err != nil {
		return err
	}
	l, err := r.Link(c.r.Context(), c.conn)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, l)
}

func (c *call) clearIdPLink() error {
	r, err := c.reconciler()
	if err != nil {
		return err
	}
	if err := r.ClearLink(c.r.Context(), c.conn); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// reconcileRequest is the body of POST .../reconcile.
type reconcileRequest struct {
	Repair        bool `json:"repair"`
	MaxDeactivate int  `json:"max_deactivate"`
}

// reconcile serves POST .../reconcile: one run, answered with its report.
// An IdP failure is 502 with the one-line fix; nothing was changed.
func (c *call) reconcile() error {
	r, err := c.reconciler()
	if err != nil {
		return err
	}
	var req reconcileRequest
	if err := c.decode(&req, true); err != nil {
		return err
	}
	if req.MaxDeactivate < 0 {
		return invalid("max_deactivate", "max_deactivate must not be negative")
	}
	rep, err := r.RunConnection(c.r.Context(), c.conn, drift.Options{Repair: req.Repair, MaxDeactivate: req.MaxDeactivate})
	var ie *idp.Error
	if errors.As(err, &ie) && rep == nil {
		return &apiError{status: http.StatusBadGateway, Code: CodeIdPFailed, Message: ie.Error() + "; nothing was changed"}
	}
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, rep)
}

func (c *call) lastReconcile() error {
	r, err := c.reconciler()
	if err != nil {
		return err
	}
	rep, err := r.LastReport(c.r.Context(), c.conn)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, rep)
}

package drift

import (
	"context"
	"encoding/json"

	"fmt"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/scim"
)

// SetLink validates l (defaults filled) and stores it as conn's link. A
// mistake is EInvalidValue with a detail that says what to change.
func (r *Runner) SetLink(ctx context.Context, conn scim.Connection, l idp.Link) (*idp.Link, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	l.Normalize()
	if err := l.Validate(); err != nil {
		return nil, scim.Errorf(scim.EInvalidValue, "%s", err)
	}
	if r.cfg.ARNSecretsOnly {
		for _, ref := range l.SecretRefs() {
			if !idp.IsSecretARN(ref) {
				return nil, scim.Errorf(scim.EInvalidValue, "on this deployment secrets are read from Secrets Manager: name each by its ARN, not %s", ref)
			}
		}
	}
	l.Updated = r.now()
	if err := r.cfg.Links.PutIdPLink(ctx, conn, l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Link returns conn's link.
func (r *Runner) Link(ctx context.Context, conn scim.Connection) (*idp.Link, error) {
	return r.cfg.Links.GetIdPLink(ctx, conn)
}

// ClearLink removes conn's link and its last report.
func (r *Runner) ClearLink(ctx context.Context, conn scim.Connection) error {
	return r.cfg.Links.DeleteIdPLink(ctx, conn)
}

// LastReport returns conn's last stored report.
func (r *Runner) LastReport(ctx context.Context, conn scim.Connection) (*Report, error) {
	doc, err := r.cfg.Links.GetReconcileReport(ctx, conn)
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(doc, &rep); err != nil {
		return nil, fmt.Errorf("decode last report of %s: %w", conn, err)
	}
	return &rep, nil
}

// RunConnection runs conn's link: the reader the link names, built by
// Config.Readers.
func (r *Runner) RunConnection(ctx context.Context, conn scim.Connection, opts Options) (*Report, error) {
	l, err := r.cfg.Links.GetIdPLink(ctx, conn)
	if err != nil {
		if scim.IsNotFound(err) {
			return nil, scim.Errorf(scim.ENotFound, "connection %s has no IdP link: set one with `scimgate connection idp set`", conn)
		}
		return nil, err
	}
	if r.cfg.Readers == nil {
		return nil, fmt.Errorf("reconcile %s: no reader factory configured", conn)
	}
	reader, prov, err := r.cfg.Readers(ctx, *l)
	if err != nil {
		return nil, err
	}
	return r.Run(ctx, conn, l.Kind, reader, prov, opts)
}

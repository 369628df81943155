package readers

import (
	"context"
	"errors"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/entra"
)

// newEntraReader builds the Entra reader, which is also its provisionOnDemand
// client: one value per run, so the token cache and the 5-per-10-s window of
// provisionOnDemand are shared by the read and the repair.
func newEntraReader(ctx context.Context, f Factory, l idp.Link) (idp.Reader, idp.Provisioner, error) {
	e := l.Entra
	if e == nil {
		return nil, nil, errors.New("entra link without entra settings")
	}
	secret, err := f.secret(ctx, idp.Entra, "client secret", e.ClientSecretRef)
	if err != nil {
		return nil, nil, err
	}
	r, err := entra.New(entra.Config{
		TenantID: e.TenantID, ServicePrincipalID: e.ServicePrincipalID, ClientID: e.ClientID, ClientSecret: secret,
		GraphURL: e.GraphURL, LoginURL: e.LoginURL,
		UserExternalIDAttribute: e.UserJoinAttribute, GroupExternalIDAttribute: e.GroupJoinAttribute,
		HTTPClient: f.Options.HTTP, Now: f.Options.Clock, Sleep: f.Options.Sleep,
	})
	if err != nil {
		return nil, nil, &idp.Error{Kind: idp.Entra, Op: "configure the reader", Err: err, Fix: "set the link again: " + err.Error()}
	}
	return r, r, nil
}

package readers

import (
	"context"
	"errors"

	"github.com/scimgate/scimgate/pkg/idp"
)

// ErrEntraNotBuiltIn is what an Entra link gets until the Entra reader
// (pkg/idp/entra) is wired in here.
var ErrEntraNotBuiltIn = errors.New("entra reader not built in")

// newEntraReader builds the Entra reader and its provisionOnDemand client.
// TODO(entra): call pkg/idp/entra's constructor with l.Entra and the client
// secret read through f.secret(ctx, idp.Entra, "client secret", ...).
func newEntraReader(_ context.Context, _ Factory, _ idp.Link) (idp.Reader, idp.Provisioner, error) {
	return nil, nil, &idp.Error{Kind: idp.Entra, Op: "build the reader", Err: ErrEntraNotBuiltIn,
		Fix: "this build has no Entra reader yet: use a build that includes pkg/idp/entra"}
}

// Package readers builds the idp.Reader (and, where the IdP has one, the
// idp.Provisioner) a link names, with its secrets resolved: the one place
// that knows every IdP package.
package readers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/okta"
)

// Options are shared by every reader.
type Options struct {
	HTTP  *http.Client
	Clock func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Factory builds readers for links, resolving their secrets with Secrets.
type Factory struct {
	Secrets idp.SecretSource
	Options Options
}

// builders maps each kind to its constructor.
var builders = map[idp.Kind]func(ctx context.Context, f Factory, l idp.Link) (idp.Reader, idp.Provisioner, error){
	idp.Okta:  newOktaReader,
	idp.Entra: newEntraReader,
}

// New returns the reader of l, and its provisioner (nil where the IdP has none).
func (f Factory) New(ctx context.Context, l idp.Link) (idp.Reader, idp.Provisioner, error) {
	build, ok := builders[l.Kind]
	if !ok {
		return nil, nil, fmt.Errorf("no reader for IdP kind %q", l.Kind)
	}
	return build(ctx, f, l)
}

func (f Factory) secret(ctx context.Context, kind idp.Kind, what, ref string) ([]byte, error) {
	b, err := f.Secrets.Secret(ctx, ref)
	if err != nil {
		return nil, &idp.Error{Kind: kind, Op: "read the " + what, Err: err,
			Fix: "the link's " + what + " cannot be read: check the reference and that this process may read it"}
	}
	if len(b) == 0 {
		return nil, &idp.Error{Kind: kind, Op: "read the " + what, Fix: "the link's " + what + " is empty"}
	}
	return b, nil
}

func newOktaReader(ctx context.Context, f Factory, l idp.Link) (idp.Reader, idp.Provisioner, error) {
	o := l.Okta
	if o == nil {
		return nil, nil, errors.New("okta link without okta settings")
	}
	cfg := okta.Config{OrgURL: o.OrgURL, AppID: o.AppID, HTTP: f.Options.HTTP, Clock: f.Options.Clock, Sleep: f.Options.Sleep}
	if o.APITokenRef != "" {
		tok, err := f.secret(ctx, idp.Okta, "API token", o.APITokenRef)
		if err != nil {
			return nil, nil, err
		}
		cfg.APIToken = string(tok)
	} else {
		key, err := f.secret(ctx, idp.Okta, "private key", o.PrivateKeyRef)
		if err != nil {
			return nil, nil, err
		}
		cfg.ClientID, cfg.PrivateKey = o.ClientID, key
	}
	r, err := okta.New(cfg)
	if err != nil {
		return nil, nil, &idp.Error{Kind: idp.Okta, Op: "configure the reader", Err: err, Fix: "set the link again: " + err.Error()}
	}
	return r, nil, nil
}

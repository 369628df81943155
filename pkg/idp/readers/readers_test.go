package readers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/readers"
	"github.com/scimgate/scimgate/pkg/idp/secrets"
)

func TestEntraIsNotBuiltInYet(t *testing.T) {
	l := idp.Link{Kind: idp.Entra, Entra: &idp.EntraLink{TenantID: "t", ServicePrincipalID: "sp", ClientID: "c", ClientSecretRef: "/s"}}
	_, _, err := readers.Factory{Secrets: secrets.Files{}}.New(context.Background(), l)
	var ie *idp.Error
	if !errors.Is(err, readers.ErrEntraNotBuiltIn) || !errors.As(err, &ie) || ie.Kind != idp.Entra {
		t.Fatalf("entra reader = %v", err)
	}
}

func TestOktaSecretUnreadable(t *testing.T) {
	l := idp.Link{Kind: idp.Okta, Okta: &idp.OktaLink{OrgURL: "https://acme.okta.com", AppID: "0oa", APITokenRef: "/nonexistent/token"}}
	_, _, err := readers.Factory{Secrets: secrets.Files{}}.New(context.Background(), l)
	var ie *idp.Error
	if !errors.As(err, &ie) || ie.Kind != idp.Okta || ie.Fix == "" {
		t.Fatalf("unreadable token = %v", err)
	}
}

package readers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/entra/graphtest"
	"github.com/scimgate/scimgate/pkg/idp/readers"
	"github.com/scimgate/scimgate/pkg/idp/secrets"
)

// The factory builds the Entra reader from a link whose secret is a file,
// and the reader it returns reads the Graph double through the link's URLs.
func TestEntraLinkReadsGraph(t *testing.T) {
	g := graphtest.New(t,
		[]graphtest.User{{ID: "u1", UserPrincipalName: "ada@example.com", MailNickname: "ada", AccountEnabled: true}},
		nil, []graphtest.Assignment{{PrincipalID: "u1", PrincipalType: "User"}})
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(graphtest.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := idp.Link{Kind: idp.Entra, Entra: &idp.EntraLink{TenantID: graphtest.TenantID, ServicePrincipalID: graphtest.ServicePrincipalID,
		ClientID: graphtest.ClientID, ClientSecretRef: secretFile, GraphURL: g.URL, LoginURL: g.URL}}
	l.Normalize()
	r, p, err := readers.Factory{Secrets: secrets.Files{}}.New(context.Background(), l)
	if err != nil {
		t.Fatalf("entra reader: %v", err)
	}
	if p == nil {
		t.Fatal("the entra reader comes without its provisioner")
	}
	snap, err := r.Read(context.Background())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(snap.Users) != 1 || snap.Users[0].ExternalID != "ada" || !snap.Users[0].Assigned {
		t.Fatalf("users = %+v", snap.Users)
	}
}

func TestEntraSecretUnreadable(t *testing.T) {
	l := idp.Link{Kind: idp.Entra, Entra: &idp.EntraLink{TenantID: "t", ServicePrincipalID: "sp", ClientID: "c", ClientSecretRef: "/nonexistent/secret"}}
	_, _, err := readers.Factory{Secrets: secrets.Files{}}.New(context.Background(), l)
	var ie *idp.Error
	if !errors.As(err, &ie) || ie.Kind != idp.Entra || ie.Fix == "" {
		t.Fatalf("unreadable secret = %v", err)
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

package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/scim"
)

// LinkStores is what the IdP link contract needs.
type LinkStores struct {
	Connections auth.ConnectionStore
	Links       drift.LinkStore
}

// RunIdPLinks runs the contract of drift.LinkStore.
func RunIdPLinks(t *testing.T, newStores func(t *testing.T) LinkStores) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s LinkStores, tenant string)
	}{
		{"LinkLifecycle", testLinkLifecycle},
		{"ReportNeedsLink", testReportNeedsLink},
		{"LinkGoesWithConnection", testLinkGoesWithConnection},
	}
	var seq atomic.Int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStores(t), fmt.Sprintf("l%d-%d", time.Now().UnixNano()%1e9, seq.Add(1)))
		})
	}
}

func oktaLink() idp.Link {
	return idp.Link{Kind: idp.Okta, Policy: idp.PolicyReport, Updated: lifecycleStart,
		Okta: &idp.OktaLink{OrgURL: "https://example.okta.com", AppID: "0oa1", APITokenRef: "/etc/scimgate/okta-token"}}
}

func entraLink() idp.Link {
	l := idp.Link{Kind: idp.Entra, Policy: idp.PolicyRepair, Updated: lifecycleStart.Add(time.Hour),
		Entra: &idp.EntraLink{TenantID: "t", ServicePrincipalID: "sp", ClientID: "c", ClientSecretRef: "arn:aws:secretsmanager:eu-west-1:1:secret:scimgate/x"}}
	l.Normalize()
	return l
}

func testLinkLifecycle(t *testing.T, s LinkStores, tenant string) {
	ctx := context.Background()
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	other := scim.Connection{Tenant: tenant, SSO: "entra"}
	if err := s.Links.PutIdPLink(ctx, conn, oktaLink()); err == nil {
		t.Fatal("linked a connection that does not exist")
	} else {
		wantCode(t, err, scim.ENotFound)
	}
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart)
	mustCreateConnection(t, s.Connections, other, "", lifecycleStart)
	_, err := s.Links.GetIdPLink(ctx, conn)
	wantCode(t, err, scim.ENotFound)

	if err := s.Links.PutIdPLink(ctx, conn, oktaLink()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Links.GetIdPLink(ctx, conn)
	if err != nil || !reflect.DeepEqual(*got, oktaLink()) {
		t.Fatalf("get link = %+v, %v; want %+v", got, err, oktaLink())
	}
	_, err = s.Links.GetIdPLink(ctx, other)
	wantCode(t, err, scim.ENotFound) // links are per connection

	// Set again replaces.
	if err := s.Links.PutIdPLink(ctx, conn, entraLink()); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Links.GetIdPLink(ctx, conn); err != nil || !reflect.DeepEqual(*got, entraLink()) {
		t.Fatalf("replaced link = %+v, %v", got, err)
	}
	if err := s.Links.PutReconcileReport(ctx, conn, []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Links.DeleteIdPLink(ctx, conn); err != nil {
		t.Fatal(err)
	}
	_, err = s.Links.GetIdPLink(ctx, conn)
	wantCode(t, err, scim.ENotFound)
	_, err = s.Links.GetReconcileReport(ctx, conn)
	wantCode(t, err, scim.ENotFound) // the report goes with the link
	wantCode(t, s.Links.DeleteIdPLink(ctx, conn), scim.ENotFound)
}

func testReportNeedsLink(t *testing.T, s LinkStores, tenant string) {
	ctx := context.Background()
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart)
	wantCode(t, s.Links.PutReconcileReport(ctx, conn, []byte(`{}`)), scim.ENotFound)
	if err := s.Links.PutIdPLink(ctx, conn, oktaLink()); err != nil {
		t.Fatal(err)
	}
	_, err := s.Links.GetReconcileReport(ctx, conn)
	wantCode(t, err, scim.ENotFound)
	for _, r := range []string{`{"n":1}`, `{"n":2}`} {
		if err := s.Links.PutReconcileReport(ctx, conn, []byte(r)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Links.GetReconcileReport(ctx, conn); err != nil || string(got) != r {
			t.Fatalf("report = %s, %v; want %s", got, err, r)
		}
	}
	// Setting the link again keeps the last report.
	if err := s.Links.PutIdPLink(ctx, conn, oktaLink()); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Links.GetReconcileReport(ctx, conn); err != nil || string(got) != `{"n":2}` {
		t.Fatalf("report after re-link = %s, %v", got, err)
	}
}

func testLinkGoesWithConnection(t *testing.T, s LinkStores, tenant string) {
	ctx := context.Background()
	conn := scim.Connection{Tenant: tenant, SSO: "okta"}
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart)
	if err := s.Links.PutIdPLink(ctx, conn, oktaLink()); err != nil {
		t.Fatal(err)
	}
	if err := s.Links.PutReconcileReport(ctx, conn, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Connections.DeleteConnection(ctx, conn, lifecycleStart.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Links.GetIdPLink(ctx, conn)
	wantCode(t, err, scim.ENotFound)
	wantCode(t, s.Links.PutIdPLink(ctx, conn, oktaLink()), scim.ENotFound)
	for {
		p, err := s.Connections.PurgeConnection(ctx, conn, 100)
		if err != nil {
			t.Fatal(err)
		}
		if p.Done {
			break
		}
	}
	// A connection created again under the name starts unlinked.
	mustCreateConnection(t, s.Connections, conn, "", lifecycleStart.Add(2*time.Hour))
	_, err = s.Links.GetIdPLink(ctx, conn)
	wantCode(t, err, scim.ENotFound)
	_, err = s.Links.GetReconcileReport(ctx, conn)
	wantCode(t, err, scim.ENotFound)
}

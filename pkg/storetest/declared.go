package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

// DeclaredStore is what the declared-schemas contract needs: a connection
// store that also keeps a connection's declaration and the default one.
type DeclaredStore interface {
	auth.ConnectionStore
	auth.DeclaredSchemaStore
	auth.DefaultSchemaStore
}

// RunDeclaredSchemas runs the contract of auth.DeclaredSchemaStore and
// auth.DefaultSchemaStore. The stores keep the canonical JSON they are
// given as it is; parsing it is the caller's (scim.ParseDeclaration).
func RunDeclaredSchemas(t *testing.T, s DeclaredStore) {
	t.Run("ConnectionDeclarationTravelsWithTheToken", func(t *testing.T) {
		testConnectionDeclaration(t, s, "d1")
	})
	t.Run("ConnectionMustBeLive", func(t *testing.T) {
		testDeclarationNeedsLiveConnection(t, s, "d2")
	})
	t.Run("DefaultDeclaration", func(t *testing.T) {
		testDefaultDeclaration(t, s)
	})
}

// declarationFixture is canonical-looking JSON; the stores never parse it.
const declarationFixture = `[{"id":"urn:ietf:params:scim:schemas:extension:acme:2.0:User","x-resourceType":"User","attributes":[{"name":"costCentre","type":"integer"}]}]`

func testConnectionDeclaration(t *testing.T, s DeclaredStore, tenant string) {
	ctx := context.Background()
	conn := scim.Connection{Tenant: tenant, SSO: "entra"}
	other := scim.Connection{Tenant: tenant, SSO: "okta"}
	secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	first := auth.NewTokenInfo(conn, secret, lifecycleStart)
	if err := s.CreateConnection(ctx, auth.ConnectionRecord{Conn: conn, State: auth.StateActive, Created: lifecycleStart}, first); err != nil {
		t.Fatal(err)
	}
	mustCreateConnection(t, s, other, "", lifecycleStart)
	if got := mustConnection(t, s, conn).DeclaredSchemas; got != "" {
		t.Fatalf("a new connection declares %q, want nothing", got)
	}
	if err := s.SetDeclaredSchemas(ctx, conn, declarationFixture); err != nil {
		t.Fatalf("set declared schemas: %v", err)
	}
	if got := mustConnection(t, s, conn).DeclaredSchemas; got != declarationFixture {
		t.Fatalf("GetConnection declares %q, want %q", got, declarationFixture)
	}
	// Authentication reads the record with the token: the declaration
	// arrives with it, at no read of its own.
	_, rec, err := auth.AuthenticateConnection(ctx, s, "Bearer "+secret, conn, lifecycleStart)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if rec.DeclaredSchemas != declarationFixture {
		t.Fatalf("the authenticated record declares %q, want %q", rec.DeclaredSchemas, declarationFixture)
	}
	if got := mustConnection(t, s, other).DeclaredSchemas; got != "" {
		t.Fatalf("another connection of the tenant declares %q", got)
	}
	// The policy and the declaration are independent columns/attributes.
	if ps, ok := s.(auth.ExtensionPolicyStore); ok {
		if err := ps.SetUnknownExtensions(ctx, conn, scim.ExtensionsReject); err != nil {
			t.Fatal(err)
		}
		if c := mustConnection(t, s, conn); c.DeclaredSchemas != declarationFixture || c.UnknownExtensions != scim.ExtensionsReject {
			t.Fatalf("after setting the policy: declared %q, policy %q", c.DeclaredSchemas, c.UnknownExtensions)
		}
	}
	for _, clear := range []string{"[]", ""} {
		if err := s.SetDeclaredSchemas(ctx, conn, declarationFixture); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDeclaredSchemas(ctx, conn, clear); err != nil {
			t.Fatalf("clear with %q: %v", clear, err)
		}
		if got := mustConnection(t, s, conn).DeclaredSchemas; got != "" {
			t.Fatalf("after clearing with %q the connection declares %q", clear, got)
		}
	}
}

func testDeclarationNeedsLiveConnection(t *testing.T, s DeclaredStore, tenant string) {
	ctx := context.Background()
	unknown := scim.Connection{Tenant: tenant, SSO: "nobody"}
	if err := s.SetDeclaredSchemas(ctx, unknown, declarationFixture); !scim.IsNotFound(err) {
		t.Fatalf("declare on an unknown connection: %v, want not found", err)
	}
	deleted := scim.Connection{Tenant: tenant, SSO: "gone"}
	mustCreateConnection(t, s, deleted, "", lifecycleStart)
	if err := s.DeleteConnection(ctx, deleted, lifecycleStart); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeclaredSchemas(ctx, deleted, declarationFixture); !scim.IsNotFound(err) {
		t.Fatalf("declare on a deleted connection: %v, want not found", err)
	}
}

func testDefaultDeclaration(t *testing.T, s DeclaredStore) {
	ctx := context.Background()
	get := func() string {
		t.Helper()
		v, err := s.DefaultSchemas(ctx)
		if err != nil {
			t.Fatalf("read default schemas: %v", err)
		}
		return v
	}
	if err := s.SetDefaultSchemas(ctx, ""); err != nil {
		t.Fatalf("clear the default: %v", err)
	}
	if v := get(); v != "" {
		t.Fatalf("default after clearing = %q", v)
	}
	for i := range 2 { // set, then replace
		want := fmt.Sprintf(`[{"id":"urn:ietf:params:scim:schemas:extension:platform%d:2.0:User","x-resourceType":"User","attributes":[]}]`, i)
		if err := s.SetDefaultSchemas(ctx, want); err != nil {
			t.Fatalf("set default: %v", err)
		}
		if v := get(); v != want {
			t.Fatalf("default = %q, want %q", v, want)
		}
	}
	if err := s.SetDefaultSchemas(ctx, "[]"); err != nil {
		t.Fatalf("clear the default: %v", err)
	}
	if v := get(); v != "" {
		t.Fatalf("default after clearing with [] = %q", v)
	}
}

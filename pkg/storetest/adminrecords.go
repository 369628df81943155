package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
	"github.com/scimgate/scimgate/pkg/scim"
)

// AdminFeedStore is a connection store with its change feed and cursors.
type AdminFeedStore interface {
	auth.ConnectionStore
	changes.Feed
	changes.Cursors
}

var adminConn atomic.Int64

// RunAdminRecords is the contract of the connection.* and token.* records:
// every admin operation writes exactly its records in its own atomic step,
// a failed operation or a no-op writes none, no record holds a secret or a
// hash, and a purge erases the records and cursors of the connection. The
// admin clock runs an hour behind, so a store's settle window does not hide
// the records.
func RunAdminRecords(t *testing.T, newStore func(t *testing.T) AdminFeedStore) {
	ctx := context.Background()
	st := newStore(t)
	conn := scim.Connection{Tenant: "admin-feed", SSO: fmt.Sprintf("c%d-%d", time.Now().UnixNano()%1e9, adminConn.Add(1))}
	const iamCaller = "arn:aws:iam::123456789012:role/platform"
	svc := admin.New(admin.Config{Store: st, PublicURL: "https://scim.example.com", Clock: func() time.Time { return time.Now().Add(-time.Hour) }})
	viaAPI := changes.WithOrigin(ctx, changes.Origin{RequestID: "req-admin-1", Actor: changes.AdminActor(iamCaller)})

	var secrets []string // every secret and hash the records must not hold
	after := ""
	var all []changes.Record
	// want checks that the records written since the last call are exactly
	// these (type, resource id), with actor.
	want := func(step, actor string, wanted ...string) {
		t.Helper()
		page, err := st.ListChanges(ctx, changes.Query{Tenant: conn.Tenant, SSO: conn.SSO, After: after, Limit: changes.MaxPage})
		if err != nil {
			t.Fatalf("%s: list changes: %v", step, err)
		}
		var got []string
		for _, r := range page.Records {
			got = append(got, string(r.Type)+" "+r.ResourceID)
			if r.Actor != actor {
				t.Errorf("%s: record %s has actor %q, want %q", step, r.Type, r.Actor, actor)
			}
			wantType := changes.TokenResource
			if strings.HasPrefix(string(r.Type), "connection.") {
				wantType = changes.ConnectionResource
			}
			if r.ResourceType != wantType {
				t.Errorf("%s: record %s has resource type %q, want %q", step, r.Type, r.ResourceType, wantType)
			}
			after = r.ID
		}
		if !slices.Equal(got, wanted) {
			t.Fatalf("%s: records %q, want %q", step, got, wanted)
		}
		all = append(all, page.Records...)
	}
	fail := func(step string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", step)
		}
		want(step, "")
	}
	track := func(secret string) {
		secrets = append(secrets, secret, auth.HashSecret(secret))
	}

	created, err := svc.CreateConnection(viaAPI, conn, "Acme Okta", admin.TokenOptions{Description: "first"})
	if err != nil {
		t.Fatal(err)
	}
	track(created.Token)
	api := changes.AdminActor(iamCaller)
	want("create connection", api, "connection.created "+conn.String(), "token.created "+created.TokenID)
	_, err = svc.CreateConnection(viaAPI, conn, "", admin.TokenOptions{})
	fail("create an existing connection", err)

	_, err = svc.SetState(ctx, conn, auth.StateDisabled)
	if err != nil {
		t.Fatal(err)
	}
	cli := changes.AdminActor("cli")
	want("disable", cli, "connection.disabled "+conn.String())
	if _, err := svc.SetState(ctx, conn, auth.StateDisabled); err != nil {
		t.Fatal(err)
	}
	want("disable again", cli)
	if _, err := svc.SetState(ctx, conn, auth.StateActive); err != nil {
		t.Fatal(err)
	}
	want("enable", cli, "connection.enabled "+conn.String())

	tok, err := svc.CreateToken(viaAPI, conn, admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	track(tok.Secret)
	want("create token", api, "token.created "+tok.ID)

	rotated, err := svc.RotateToken(viaAPI, conn, created.TokenID, time.Hour, admin.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	track(rotated.New.Secret)
	want("rotate", api, "token.rotated "+created.TokenID, "token.created "+rotated.New.ID)
	_, err = svc.RotateToken(viaAPI, conn, "tok_unknown", time.Hour, admin.TokenOptions{})
	fail("rotate an unknown token", err)

	if _, err := svc.RevokeToken(viaAPI, conn, tok.ID); err != nil {
		t.Fatal(err)
	}
	want("revoke", api, "token.revoked "+tok.ID)
	if _, err := svc.RevokeToken(viaAPI, conn, tok.ID); err != nil {
		t.Fatal(err)
	}
	want("revoke again", api)
	_, err = svc.RotateToken(viaAPI, conn, tok.ID, time.Hour, admin.TokenOptions{})
	fail("rotate a revoked token", err)
	_, err = svc.RevokeToken(viaAPI, conn, "tok_unknown")
	fail("revoke an unknown token", err)

	if err := svc.DeleteConnection(viaAPI, conn); err != nil {
		t.Fatal(err)
	}
	want("delete", api, "connection.deleted "+conn.String())
	fail("delete again", svc.DeleteConnection(viaAPI, conn))
	_, err = svc.SetState(viaAPI, conn, auth.StateDisabled)
	fail("disable a deleted connection", err)
	_, err = svc.CreateToken(viaAPI, conn, admin.TokenOptions{})
	fail("create a token of a deleted connection", err)

	changestest.Validate(t, all...)
	for _, r := range all {
		body, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(body), s) {
				t.Errorf("record %s holds a secret or hash: %s", r.Type, body)
			}
		}
		if strings.Contains(string(body), `"hash"`) || strings.Contains(string(body), `"secret"`) {
			t.Errorf("record %s has a secret or hash key: %s", r.Type, body)
		}
		if r.RequestID != "" && r.RequestID != "req-admin-1" {
			t.Errorf("record %s: request id %q", r.Type, r.RequestID)
		}
	}
	var data admin.Connection
	if err := json.Unmarshal(all[0].Data, &data); err != nil || data.Name != "Acme Okta" || data.BaseURL != admin.BaseURL("https://scim.example.com", conn) {
		t.Errorf("connection.created data %s: %v", all[0].Data, err)
	}

	// A purge erases the records and the delivery cursors.
	c := changes.Conn{Tenant: conn.Tenant, SSO: conn.SSO}
	if err := st.SaveCursor(ctx, "webhook", c, after); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PurgeConnection(ctx, conn, nil); err != nil {
		t.Fatal(err)
	}
	page, err := st.ListChanges(ctx, changes.Query{Tenant: conn.Tenant, SSO: conn.SSO, Limit: changes.MaxPage})
	if err != nil || len(page.Records) != 0 {
		t.Errorf("records after purge: %+v, %v", page, err)
	}
	if cur, err := st.LoadCursor(ctx, "webhook", c); err != nil || cur != "" {
		t.Errorf("cursor after purge: %q, %v", cur, err)
	}
}

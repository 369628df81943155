package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// TestAccessLogNamesTheToken: the access log carries the public id of the
// token that authenticated the request (never the secret), a refused
// request carries none, and a revocation refuses the very next request.
func TestAccessLogNamesTheToken(t *testing.T) {
	st := sqliteStores(t)
	srv := startServer(t, st, serverConfig{})
	first, second := srv.client(t, testConn), srv.client(t, testConn)
	if r := first.do(t, "GET", "/Users", ""); r.status != 200 {
		t.Fatalf("first token: %v", r)
	}
	if r := second.do(t, "GET", "/Users", ""); r.status != 200 {
		t.Fatalf("second token: %v", r)
	}
	firstID := auth.TokenID(auth.HashSecret(first.token))
	if _, err := st.tokens.(*sqlitestore.Store).RevokeToken(context.Background(), testConn, firstID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := first.do(t, "GET", "/Users", ""); r.status != 401 {
		t.Fatalf("revoked token: %v", r)
	}

	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(srv.logs.String()), "\n") {
		var l struct {
			Msg     string  `json:"msg"`
			TokenID *string `json:"token_id"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l.Msg != "request" {
			continue
		}
		if l.TokenID == nil {
			t.Fatalf("access log line without token_id: %s", line)
		}
		ids = append(ids, *l.TokenID)
		if strings.Contains(line, first.token) || strings.Contains(line, auth.HashSecret(first.token)) {
			t.Fatalf("access log shows a secret or a hash: %s", line)
		}
	}
	want := []string{firstID, auth.TokenID(auth.HashSecret(second.token)), ""}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("token ids logged %q, want %q", ids, want)
	}
	cred, err := st.tokens.FindToken(context.Background(), testConn, auth.HashSecret(second.token))
	if err != nil || cred.Token.LastUsed.IsZero() {
		t.Fatalf("last use of the second token not recorded: %+v, %v", cred, err)
	}
}

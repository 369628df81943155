package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/httpapi"
)

// TestLogsCarryNoPersonalData replays every recorded Okta and Entra scenario
// and then searches the access log for every userName, email, displayName,
// password and token the scenario sent: none may appear. The README promises
// no personal data in logs beyond ids; error details quote what clients sent
// (a taken userName, a whole filter), so this is what keeps them out.
func TestLogsCarryNoPersonalData(t *testing.T) {
	for _, set := range []fixtureSet{oktaTraffic(), entraTraffic()} {
		t.Run(strings.TrimPrefix(set.dir, "../../testdata/"), func(t *testing.T) {
			replayFixturesThen(t, set, sqliteStores, func(t *testing.T, r *replay) {
				logs := r.srv.logs.String()
				if logs == "" {
					t.Fatal("no access log at all: the check would pass vacuously")
				}
				personal := personalValues(r.scenario)
				if len(personal) == 0 {
					t.Fatal("found no personal values in the scenario: the collector is broken")
				}
				secrets := append(personal, r.token, auth.HashSecret(r.token))
				for _, v := range secrets {
					if leaked(logs, v) {
						t.Errorf("the access log contains %q, sent by the scenario", v)
					}
				}
			})
		})
	}
}

// leaked reports whether v occurs in logs as written or as JSON escapes it.
func leaked(logs, v string) bool {
	b, _ := json.Marshal(v)
	escaped := strings.Trim(string(b), `"`)
	return strings.Contains(logs, v) || strings.Contains(logs, escaped)
}

// personalValues collects from a scenario's requests every value of a
// userName, displayName, password or token key, every email address and
// every display of a member, including those inside filters in paths.
func personalValues(sc scenario) []string {
	seen := map[string]bool{}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(key, e)
			}
		case string:
			k := strings.ToLower(key)
			if k == "username" || k == "displayname" || k == "password" || k == "display" || strings.Contains(k, "token") || strings.Contains(x, "@") {
				seen[x] = true
			}
			if strings.Contains(x, "@") && strings.Contains(x, " ") {
				// Filters in PATCH paths: take out the quoted values too.
				for _, q := range quotedValues(x) {
					seen[q] = true
				}
			}
		}
	}
	for _, step := range sc.Steps {
		walk("", step.Body)
		for k, h := range step.Headers {
			walk(k, h)
		}
		path := step.Path
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
		if u, err := url.Parse(step.Path); err == nil {
			for _, vs := range u.Query() {
				for _, v := range vs {
					for _, q := range quotedValues(v) {
						seen[q] = true
					}
				}
			}
		}
		for _, q := range quotedValues(path) {
			seen[q] = true
		}
	}
	var out []string
	for v := range seen {
		// Placeholders are filled with server-assigned ids, which may be logged.
		if len(v) >= 3 && !strings.Contains(v, "{{") {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// quotedValues returns the "..." literals of a filter.
func quotedValues(s string) []string {
	var out []string
	parts := strings.Split(s, `"`)
	for i := 1; i < len(parts); i += 2 {
		out = append(out, parts[i])
	}
	return out
}

// TestErrorLogKeepsCodeAndIDs: an error's log line has the error code and
// the detail's sentence with the client's values taken out, but the ids an
// operator correlates by stay.
func TestErrorLogKeepsCodeAndIDs(t *testing.T) {
	srv := newServer(t)
	c := srv.client(t, testConn)
	const email = "grace.hopper@example.com"
	c.createUser(t, email)
	group := c.createGroup(t, "Navy")
	const unknownMember = "ffffffff-0000-4000-8000-00000000ffff"
	requests := []struct{ method, path, body string }{
		{"POST", "/Users", `{"userName":"` + email + `"}`},
		{"GET", "/Users?filter=" + url.QueryEscape(`emails.value eq "`+email+`" and`), ""},
		{"GET", "/Users?filter=" + url.QueryEscape(`shoeSize eq "`+email+`"`), ""},
		{"GET", "/" + email, ""},
		{"PATCH", "/Groups/" + group, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + unknownMember + `"}]}]}`},
	}
	for _, rq := range requests {
		if r := c.do(t, rq.method, rq.path, rq.body); r.status < 400 {
			t.Fatalf("%s %s: status %d, want an error", rq.method, rq.path, r.status)
		}
	}
	logs := srv.logs.String()
	if leaked(logs, email) {
		t.Errorf("the log contains the email address:\n%s", logs)
	}
	for _, want := range []string{`"error_code":"uniqueness"`, `"error_code":"invalid_filter"`, `"error_code":"not_found"`, `"error_code":"invalid_value"`, unknownMember} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
}

// TestClientRequestIDLogged: a well-formed X-Request-Id from the caller is
// logged as client_request_id beside the server's own request_id, which
// stays the one answered in the response; a malformed one is not logged.
func TestClientRequestIDLogged(t *testing.T) {
	tests := []struct {
		name, sent string
		logged     bool
	}{
		{"uuid", "3f1c2a9e-5b7d-4c1e-9a0b-7e6d5c4b3a21", true},
		{"token characters", "Root=1-abc;Sampled=0/+_", true},
		{"the longest accepted", strings.Repeat("a", httpapi.MaxClientRequestIDLength), true},
		{"too long", strings.Repeat("a", httpapi.MaxClientRequestIDLength+1), false},
		{"with a space", "two words", false},
		{"with a tab", "a\tb", false},
		{"not ASCII", "jürgen", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			token := srv.token(t, testConn)
			header := http.Header{"Authorization": {"Bearer " + token}, httpapi.RequestIDHeader: {tc.sent}}
			resp := srv.send(t, "GET", srv.base(testConn)+"/Users", header, nil)
			mustStatus(t, resp, http.StatusOK)
			var line struct {
				RequestID       string  `json:"request_id"`
				ClientRequestID *string `json:"client_request_id"`
			}
			if err := json.Unmarshal([]byte(strings.TrimSpace(srv.logs.String())), &line); err != nil {
				t.Fatalf("log: %v\n%s", err, srv.logs.String())
			}
			if got := resp.header.Get(httpapi.RequestIDHeader); got == tc.sent || got != line.RequestID {
				t.Errorf("response X-Request-Id %q, logged request_id %q: the server's own id must be answered", got, line.RequestID)
			}
			switch {
			case tc.logged && (line.ClientRequestID == nil || *line.ClientRequestID != tc.sent):
				t.Errorf("client_request_id = %v, want %q", line.ClientRequestID, tc.sent)
			case !tc.logged && line.ClientRequestID != nil:
				t.Errorf("malformed X-Request-Id logged as %q", *line.ClientRequestID)
			}
		})
	}
}

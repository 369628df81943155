package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// entraFixtures holds the requests Microsoft documents the Entra ID
// provisioning service sending, one scenario per file, in the Okta fixture
// format; testdata/entra/README.md names the source of each.
const entraFixtures = "../../testdata/entra"

// entraScenario is an Okta scenario whose steps may carry a knownFailure.
type entraScenario struct {
	Description string            `json:"description"`
	Headers     map[string]string `json:"headers"`
	Steps       []entraStep       `json:"steps"`
}

// entraStep is an Okta fixture step plus knownFailure: the reason scimgate
// does not yet answer as Entra needs. Such a step still runs with every
// expectation; its failure is logged instead of failing the test, and the
// test fails once it passes, so that the marker is removed with the fix.
// Its path may be written as Microsoft shows it (spaces and quotes in the
// filter); the runner percent-encodes the query.
type entraStep struct {
	oktaStep
	KnownFailure string `json:"knownFailure"`
}

func TestEntraReplayEmbeddedStore(t *testing.T) {
	replayEntra(t, sqliteStores)
}

// replayEntra runs every scenario in testdata/entra through the real
// handler on a fresh store from newStores.
func replayEntra(t *testing.T, newStores storeFactory) {
	files, err := filepath.Glob(filepath.Join(entraFixtures, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", entraFixtures)
	}
	for _, file := range files {
		sc := loadEntraScenario(t, file)
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			srv := startServer(t, newStores(t), serverConfig{})
			r := &replay{
				srv:      srv,
				token:    srv.token(t, testConn),
				scenario: oktaScenario{Description: sc.Description, Headers: sc.Headers},
				vars:     map[string]string{},
			}
			// uncaptured maps a variable that a failing knownFailure step did
			// not capture to that step: the steps that use it cannot run.
			uncaptured := map[string]string{}
			for i, step := range sc.Steps {
				if name, from := needsUncaptured(t, step, uncaptured); name != "" {
					t.Logf("SKIPPED, step %d %q: it uses {{%s}}, which the known failure %q did not capture", i+1, step.Name, name, from)
					continue
				}
				problems := runEntraStep(t, r, step)
				switch {
				case step.KnownFailure != "" && len(problems) > 0:
					t.Logf("KNOWN FAILURE, step %d %q (%s):\n\t%s", i+1, step.Name, step.KnownFailure, strings.Join(problems, "\n\t"))
					for name := range step.Expect.Capture {
						if _, ok := r.vars[name]; !ok {
							uncaptured[name] = step.Name
						}
					}
				case step.KnownFailure != "":
					t.Errorf("step %d %q passes now: remove its knownFailure %q", i+1, step.Name, step.KnownFailure)
				case len(problems) > 0:
					for _, p := range problems {
						t.Errorf("step %d %q: %s", i+1, step.Name, p)
					}
					// Later steps build on earlier ones: stop at the first failure.
					return
				}
			}
		})
	}
}

// needsUncaptured returns a variable of uncaptured that step uses, and the
// step that failed to capture it.
func needsUncaptured(t *testing.T, step entraStep, uncaptured map[string]string) (name, from string) {
	t.Helper()
	if len(uncaptured) == 0 {
		return "", ""
	}
	b, err := json.Marshal(step.oktaStep)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range variablePattern.FindAllStringSubmatch(string(b), -1) {
		if from, ok := uncaptured[m[1]]; ok {
			return m[1], from
		}
	}
	return "", ""
}

func loadEntraScenario(t *testing.T, file string) entraScenario {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt key would silently assert nothing
	var sc entraScenario
	if err := dec.Decode(&sc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if sc.Description == "" || len(sc.Steps) == 0 {
		t.Fatalf("%s: needs a description and steps", file)
	}
	for i, s := range sc.Steps {
		if s.Name == "" || s.Method == "" || s.Path == "" || s.Expect.Status == 0 {
			t.Fatalf("%s: step %d needs name, method, path and expect.status", file, i+1)
		}
	}
	return sc
}

// runEntraStep performs one step and returns every expectation it misses.
// It applies the Okta replay's checks (status, invariants, headers, body
// subset, absent pointers, captures) but collects instead of failing, so
// that a knownFailure step can be reported without failing the test.
func runEntraStep(t *testing.T, r *replay, step entraStep) []string {
	t.Helper()
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	method, path := step.Method, encodeQuery(r.expand(t, step.Path))
	header := http.Header{}
	for _, hs := range []map[string]string{r.scenario.Headers, step.Headers} {
		for k, v := range hs {
			header.Set(k, r.expand(t, v))
		}
	}
	header.Set("Authorization", "Bearer "+r.token)
	var body []byte
	if step.Body != nil {
		var err error
		if body, err = json.Marshal(r.expandValue(t, step.Body)); err != nil {
			t.Fatal(err)
		}
		r.passwords = append(r.passwords, passwordValues(step.Body)...)
	}
	resp := r.srv.send(t, method, r.srv.base(testConn)+path, header, bytes.NewReader(body))
	if resp.status != step.Expect.Status {
		add("%s %s: status %d, want %d\n\trequest: %s\n\tresponse: %s", method, path, resp.status, step.Expect.Status, body, resp.body)
		return problems
	}
	var doc any
	if len(resp.body) > 0 {
		if err := json.Unmarshal(resp.body, &doc); err != nil {
			add("body is not JSON: %v\n%s", err, resp.body)
			return problems
		}
	}
	problems = append(problems, r.invariants(resp, doc)...)
	for k, v := range step.Expect.Headers {
		if got, want := resp.header.Get(k), r.expand(t, v); got != want {
			add("header %s = %q, want %q", k, got, want)
		}
	}
	if step.Expect.Body != nil {
		for _, p := range matchSubset(r.expandValue(t, step.Expect.Body), doc, "") {
			add("body %s\n\tresponse: %s", p, resp.body)
		}
	}
	for _, ptr := range step.Expect.Absent {
		if v, ok := lookupPointer(doc, ptr); ok {
			add("body has %s = %v; it must be absent", ptr, v)
		}
	}
	names := make([]string, 0, len(step.Expect.Capture))
	for name := range step.Expect.Capture {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		from := step.Expect.Capture[name]
		var got string
		if h, ok := strings.CutPrefix(from, "header:"); ok {
			got = resp.header.Get(h)
		} else if v, ok := lookupPointer(doc, from); ok {
			got, _ = v.(string)
		}
		if got == "" {
			add("capture %s: no string at %s", name, from)
			continue
		}
		if prev, bound := r.vars[name]; bound && prev != got {
			add("%s changed: was %q, now %q at %s", name, prev, got, from)
			continue
		}
		r.vars[name] = got
	}
	return problems
}

// encodeQuery percent-encodes the query of a path written as Microsoft
// documents it, e.g. /Users?filter=userName eq "x", the way a client sends
// it on the wire (spaces as %20, RFC 3986).
func encodeQuery(path string) string {
	p, query, ok := strings.Cut(path, "?")
	if !ok {
		return path
	}
	params := strings.Split(query, "&")
	for i, param := range params {
		k, v, _ := strings.Cut(param, "=")
		params[i] = escapeQueryPart(k) + "=" + escapeQueryPart(v)
	}
	return p + "?" + strings.Join(params, "&")
}

func escapeQueryPart(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func TestEntraEncodeQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/Users", "/Users"},
		{`/Users?filter=userName eq "a b"`, "/Users?filter=userName%20eq%20%22a%20b%22"},
		{`/Groups?excludedAttributes=members&filter=displayName eq "x+y"`, "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22x%2By%22"},
		{`/Users?filter=emails[type eq "work"].value eq "a@b.c"`, "/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22a%40b.c%22"},
	}
	for _, tt := range tests {
		if got := encodeQuery(tt.in); got != tt.want {
			t.Errorf("encodeQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// What the server decodes must be what the fixture says.
		if _, q, ok := strings.Cut(tt.in, "?"); ok {
			u, err := url.Parse(encodeQuery(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			for _, param := range strings.Split(q, "&") {
				k, v, _ := strings.Cut(param, "=")
				if got := u.Query().Get(k); got != v {
					t.Errorf("%q: server reads %s=%q, want %q", tt.in, k, got, v)
				}
			}
		}
	}
}

// TestEntraFixturesDocumented keeps README.md naming the source of every fixture.
func TestEntraFixturesDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(entraFixtures, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(entraFixtures, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if !bytes.Contains(readme, []byte("| "+name+" |")) {
			t.Errorf("%s has no row in README.md's source table", name)
		}
	}
}

// TestEntraReplayDynamoDB replays the Entra traffic on the store Lambda
// uses, so that both stores answer Entra identically.
func TestEntraReplayDynamoDB(t *testing.T) {
	replayEntra(t, dynamoStores)
}

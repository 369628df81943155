package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/pkg/scim"
)

// oktaFixtures holds the traffic Okta's SCIM 2.0 reference documents, one
// scenario per file; testdata/okta/README.md describes the format and where
// each request comes from.
const oktaFixtures = "../../testdata/okta"

// oktaScenario is one fixture file: steps run in order against one fresh store.
type oktaScenario struct {
	Description string            `json:"description"`
	Headers     map[string]string `json:"headers"`
	Steps       []oktaStep        `json:"steps"`
}

type oktaStep struct {
	Name    string            `json:"name"`
	Method  string            `json:"method"`
	Path    string            `json:"path"` // relative to the connection's base URL
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body"`
	Expect  oktaExpect        `json:"expect"`
}

type oktaExpect struct {
	Status int `json:"status"`
	// Headers must be present with exactly these values.
	Headers map[string]string `json:"headers"`
	// Body is a subset of the response body (see matchSubset).
	Body any `json:"body"`
	// Absent lists JSON pointers (RFC 6901) that must not exist in the body.
	Absent []string `json:"absent"`
	// Capture binds variables to a JSON pointer into the body or to
	// "header:Name". A variable that is already bound must get the same
	// value again, which is how the fixtures assert that ids are stable.
	Capture map[string]string `json:"capture"`
}

func TestOktaReplayEmbeddedStore(t *testing.T) {
	replayOkta(t, sqliteStores)
}

// replayOkta runs every scenario in testdata/okta through the real handler
// on a fresh store from newStores.
func replayOkta(t *testing.T, newStores storeFactory) {
	files, err := filepath.Glob(filepath.Join(oktaFixtures, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", oktaFixtures)
	}
	for _, file := range files {
		sc := loadScenario(t, file)
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			srv := startServer(t, newStores(t), serverConfig{})
			r := &replay{srv: srv, token: srv.token(t, testConn), scenario: sc, vars: map[string]string{}}
			for i, step := range sc.Steps {
				// Later steps build on earlier ones: stop at the first failure.
				if !r.run(t, i+1, step) {
					return
				}
			}
		})
	}
}

func loadScenario(t *testing.T, file string) oktaScenario {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt key would silently assert nothing
	var sc oktaScenario
	if err := dec.Decode(&sc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(sc.Steps) == 0 {
		t.Fatalf("%s: no steps", file)
	}
	for i, s := range sc.Steps {
		if s.Name == "" || s.Method == "" || s.Path == "" || s.Expect.Status == 0 {
			t.Fatalf("%s: step %d needs name, method, path and expect.status", file, i+1)
		}
	}
	return sc
}

// replay is the state of one scenario run.
type replay struct {
	srv      *testServer
	token    string
	scenario oktaScenario
	vars     map[string]string
	// passwords holds every password value sent so far: none may ever come back.
	passwords []string
}

var variablePattern = regexp.MustCompile(`\{\{(\w+)\}\}`)

// expand replaces {{name}} with captured values; an unbound name is a fixture error.
func (r *replay) expand(t *testing.T, s string) string {
	t.Helper()
	return variablePattern.ReplaceAllStringFunc(s, func(m string) string {
		name := variablePattern.FindStringSubmatch(m)[1]
		v, ok := r.vars[name]
		if !ok {
			t.Fatalf("fixture uses {{%s}} before capturing it", name)
		}
		return v
	})
}

// expandValue applies expand to every string in a decoded JSON value.
func (r *replay) expandValue(t *testing.T, v any) any {
	t.Helper()
	switch x := v.(type) {
	case string:
		return r.expand(t, x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = r.expandValue(t, e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.expandValue(t, e)
		}
		return out
	}
	return v
}

// run performs one step and reports whether it met every expectation.
func (r *replay) run(t *testing.T, n int, step oktaStep) bool {
	t.Helper()
	failed := false
	fail := func(format string, args ...any) {
		t.Helper()
		failed = true
		t.Errorf("step %d %q: %s", n, step.Name, fmt.Sprintf(format, args...))
	}
	method, path := step.Method, r.expand(t, step.Path)
	header := http.Header{}
	for _, hs := range []map[string]string{r.scenario.Headers, step.Headers} {
		for k, v := range hs {
			header.Set(k, r.expand(t, v))
		}
	}
	header.Set("Authorization", "Bearer "+r.token)
	var body *bytes.Reader
	if step.Body != nil {
		b, err := json.Marshal(r.expandValue(t, step.Body))
		if err != nil {
			t.Fatal(err)
		}
		r.passwords = append(r.passwords, passwordValues(step.Body)...)
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	resp := r.srv.send(t, method, r.srv.base(testConn)+path, header, body)
	if resp.status != step.Expect.Status {
		fail("%s %s: status %d, want %d\n%s", method, path, resp.status, step.Expect.Status, resp.body)
		return false
	}
	var doc any
	if len(resp.body) > 0 {
		if err := json.Unmarshal(resp.body, &doc); err != nil {
			fail("body is not JSON: %v\n%s", err, resp.body)
			return false
		}
	}
	for _, problem := range r.invariants(resp, doc) {
		fail("%s", problem)
	}
	for k, v := range step.Expect.Headers {
		if got, want := resp.header.Get(k), r.expand(t, v); got != want {
			fail("header %s = %q, want %q", k, got, want)
		}
	}
	if step.Expect.Body != nil {
		for _, problem := range matchSubset(r.expandValue(t, step.Expect.Body), doc, "") {
			fail("body %s\n%s", problem, resp.body)
		}
	}
	for _, ptr := range step.Expect.Absent {
		if v, ok := lookupPointer(doc, ptr); ok {
			fail("body has %s = %v; it must be absent", ptr, v)
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
			fail("capture %s: no string at %s", name, from)
			continue
		}
		if prev, bound := r.vars[name]; bound && prev != got {
			fail("%s changed: was %q, now %q at %s", name, prev, got, from)
			continue
		}
		r.vars[name] = got
	}
	return !failed
}

// invariants checks what holds for every response of the handler, whatever
// the fixture says.
func (r *replay) invariants(resp response, doc any) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if (resp.status == http.StatusNoContent || resp.status == http.StatusNotModified) && len(resp.body) > 0 {
		add("status %d with a body", resp.status)
	}
	for _, pw := range r.passwords {
		if bytes.Contains(resp.body, []byte(pw)) {
			add("a password that was sent comes back in the response")
		}
	}
	if hasKeyFold(doc, "password") {
		add("response has a password attribute (writeOnly, returned never: RFC 7643 §4.1.1)")
	}
	obj, _ := doc.(map[string]any)
	if obj == nil {
		return problems
	}
	if resp.status >= 400 {
		// RFC 7644 §3.12: the error schema, status as a string, a detail.
		if !reflect.DeepEqual(obj["schemas"], []any{scim.ErrorSchema}) {
			add("error body schemas = %v", obj["schemas"])
		}
		if obj["status"] != strconv.Itoa(resp.status) {
			add("error body status = %#v, want %q", obj["status"], strconv.Itoa(resp.status))
		}
		if d, _ := obj["detail"].(string); d == "" {
			add("error body without a detail")
		}
		return problems
	}
	base := r.srv.base(testConn)
	if meta, ok := obj["meta"].(map[string]any); ok {
		// RFC 7644 §3.14: the ETag header is the resource's meta.version.
		if got := resp.header.Get("ETag"); got != meta["version"] {
			add("ETag header %q, meta.version %v", got, meta["version"])
		}
		if resp.status == http.StatusCreated {
			// RFC 7644 §3.3: Location is the resource's URI, meta.location.
			if got := resp.header.Get("Location"); got != meta["location"] {
				add("Location header %q, meta.location %v", got, meta["location"])
			}
		}
	}
	resources := []any{obj}
	if list, ok := obj["Resources"].([]any); ok {
		resources = list
		if n, _ := obj["itemsPerPage"].(float64); int(n) != len(list) {
			add("itemsPerPage %v but %d Resources", obj["itemsPerPage"], len(list))
		}
	}
	for _, res := range resources {
		problems = append(problems, resourceLinks(base, res)...)
	}
	return problems
}

// resourceLinks checks that a resource's meta.location, its users' group
// $refs and its groups' member $refs point into the same base URL.
func resourceLinks(base string, v any) []string {
	res, _ := v.(map[string]any)
	meta, _ := res["meta"].(map[string]any)
	if res == nil || meta == nil {
		return nil
	}
	var problems []string
	collection, refs, refKey := "/Users/", "/Groups/", "groups"
	if meta["resourceType"] == "Group" {
		collection, refs, refKey = "/Groups/", "/Users/", "members"
	}
	if want := base + collection + fmt.Sprint(res["id"]); meta["location"] != want {
		problems = append(problems, fmt.Sprintf("meta.location %v, want %s", meta["location"], want))
	}
	list, _ := res[refKey].([]any)
	for _, item := range list {
		m, _ := item.(map[string]any)
		if want := base + refs + fmt.Sprint(m["value"]); m["$ref"] != want {
			problems = append(problems, fmt.Sprintf("%s $ref %v, want %s", refKey, m["$ref"], want))
		}
	}
	return problems
}

// matchSubset reports how actual fails to contain expected: every key of an
// expected object must be present and match; an expected array must have as
// many elements as the actual one and each expected element must match a
// different actual element, in any order (stores need not keep member or
// email order); scalars must be equal.
func matchSubset(expected, actual any, path string) []string {
	switch e := expected.(type) {
	case map[string]any:
		a, ok := actual.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %s", pathOrRoot(path), compact(actual))}
		}
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var problems []string
		for _, k := range keys {
			av, ok := a[k]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s/%s: missing, want %s", path, k, compact(e[k])))
				continue
			}
			problems = append(problems, matchSubset(e[k], av, path+"/"+k)...)
		}
		return problems
	case []any:
		a, ok := actual.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %s", pathOrRoot(path), compact(actual))}
		}
		if len(a) != len(e) {
			return []string{fmt.Sprintf("%s: %d elements, want %d: got %s, want %s", pathOrRoot(path), len(a), len(e), compact(a), compact(e))}
		}
		if !matchUnordered(e, a, make([]bool, len(a))) {
			return []string{fmt.Sprintf("%s: got %s, want elements matching %s", pathOrRoot(path), compact(a), compact(e))}
		}
		return nil
	default:
		if !reflect.DeepEqual(expected, actual) {
			return []string{fmt.Sprintf("%s: got %s, want %s", pathOrRoot(path), compact(actual), compact(expected))}
		}
		return nil
	}
}

// matchUnordered assigns each expected element a distinct actual element
// (backtracking: the lists are short).
func matchUnordered(expected, actual []any, used []bool) bool {
	if len(expected) == 0 {
		return true
	}
	for i, a := range actual {
		if !used[i] && len(matchSubset(expected[0], a, "")) == 0 {
			used[i] = true
			if matchUnordered(expected[1:], actual, used) {
				return true
			}
			used[i] = false
		}
	}
	return false
}

// lookupPointer resolves an RFC 6901 JSON pointer such as /Resources/0/id.
func lookupPointer(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// passwordValues returns the string values of every "password" key in v.
func passwordValues(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && strings.EqualFold(k, "password") && s != "" {
				out = append(out, s)
			}
			out = append(out, passwordValues(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, passwordValues(e)...)
		}
	}
	return out
}

// hasKeyFold reports whether any object in v has the key name, ignoring case.
func hasKeyFold(v any, name string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.EqualFold(k, name) || hasKeyFold(e, name) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasKeyFold(e, name) {
				return true
			}
		}
	}
	return false
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func pathOrRoot(path string) string {
	if path == "" {
		return "(body)"
	}
	return path
}

// TestMatchSubset pins the matcher the replay relies on: a matcher that
// accepted everything would make every fixture pass.
func TestMatchSubset(t *testing.T) {
	doc := map[string]any{
		"id":      "u1",
		"active":  true,
		"members": []any{map[string]any{"value": "a", "display": "A"}, map[string]any{"value": "b"}},
		"meta":    map[string]any{"version": `W/"2"`},
	}
	tests := []struct {
		name     string
		expected any
		ok       bool
	}{
		{"empty object", map[string]any{}, true},
		{"scalar subset", map[string]any{"id": "u1", "active": true}, true},
		{"nested subset", map[string]any{"meta": map[string]any{"version": `W/"2"`}}, true},
		{"members in another order", map[string]any{"members": []any{map[string]any{"value": "b"}, map[string]any{"value": "a"}}}, true},
		{"wrong scalar", map[string]any{"active": false}, false},
		{"missing key", map[string]any{"externalId": "x"}, false},
		{"fewer members", map[string]any{"members": []any{map[string]any{"value": "a"}}}, false},
		{"same member twice", map[string]any{"members": []any{map[string]any{"value": "a"}, map[string]any{"value": "a"}}}, false},
		{"object for array", map[string]any{"members": map[string]any{}}, false},
		{"string for bool", map[string]any{"active": "true"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := matchSubset(tt.expected, doc, "")
			if ok := len(problems) == 0; ok != tt.ok {
				t.Errorf("match = %v (%v), want %v", ok, problems, tt.ok)
			}
		})
	}
}

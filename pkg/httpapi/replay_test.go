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

// The replay runs recorded identity-provider traffic through the real
// handler. Both fixture sets, testdata/okta and testdata/entra, use the
// format testdata/okta/README.md describes: one scenario per file, steps run
// in order against one fresh store.

// fixtureSet is a directory of scenarios and how its paths are written.
type fixtureSet struct {
	dir string
	// wirePath turns a step's path, variables expanded, into the request
	// target sent; nil sends it as written (already percent-encoded).
	wirePath func(string) string
}

// scenario is one fixture file.
type scenario struct {
	Description string            `json:"description"`
	Headers     map[string]string `json:"headers"`
	Steps       []scenarioStep    `json:"steps"`
}

type scenarioStep struct {
	Name    string            `json:"name"`
	Method  string            `json:"method"`
	Path    string            `json:"path"` // relative to the connection's base URL
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body"`
	Expect  stepExpectation   `json:"expect"`
}

type stepExpectation struct {
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

// replayFixtures runs every scenario of set through the real handler on a
// fresh store from newStores. A scenario passes only if every step meets
// every expectation.
func replayFixtures(t *testing.T, set fixtureSet, newStores storeFactory) {
	t.Helper()
	replayFixturesThen(t, set, newStores, nil)
}

// replayFixturesThen is replayFixtures, calling after (when not nil) with
// each scenario's finished run, whether or not its steps passed.
func replayFixturesThen(t *testing.T, set fixtureSet, newStores storeFactory, after func(t *testing.T, r *replay)) {
	t.Helper()
	files := fixtureFiles(t, set.dir)
	for _, file := range files {
		sc := loadScenario(t, file)
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			srv := startServer(t, newStores(t), serverConfig{})
			r := &replay{srv: srv, token: srv.token(t, testConn), scenario: sc, wirePath: set.wirePath, vars: map[string]string{}}
			if after != nil {
				defer after(t, r)
			}
			for i, step := range sc.Steps {
				problems := r.check(t, step)
				for _, p := range problems {
					t.Errorf("step %d %q: %s", i+1, step.Name, p)
				}
				if len(problems) > 0 {
					// Later steps build on earlier ones: stop at the first failure.
					return
				}
			}
		})
	}
}

// fixtureFiles lists the scenario files of dir; an empty set is an error,
// or a moved directory would pass silently.
func fixtureFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	return files
}

func loadScenario(t *testing.T, file string) scenario {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt key would silently assert nothing
	var sc scenario
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

// TestFixturesDocumented keeps each set's README.md naming the source of
// every fixture.
func TestFixturesDocumented(t *testing.T) {
	for _, dir := range []string{oktaFixtures, entraFixtures} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fixtureFiles(t, dir) {
				name := strings.TrimSuffix(filepath.Base(f), ".json")
				if !bytes.Contains(readme, []byte("| "+name+" |")) {
					t.Errorf("%s has no row in README.md's source table", name)
				}
			}
		})
	}
}

// replay is the state of one scenario run.
type replay struct {
	srv      *testServer
	token    string
	scenario scenario
	wirePath func(string) string
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

// check performs one step and returns every expectation it misses; an
// empty result means the step passed and its captures are bound.
func (r *replay) check(t *testing.T, step scenarioStep) []string {
	t.Helper()
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	method, path := step.Method, r.expand(t, step.Path)
	if r.wirePath != nil {
		path = r.wirePath(path)
	}
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
			add("body is not JSON: %v\n\tresponse: %s", err, resp.body)
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

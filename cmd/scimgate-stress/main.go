// Command stress is scimgate's reliability suite (`make stress`): it builds
// scimgate, serves it on each store (the embedded one, and DynamoDB on a
// local moto_server), and attacks it as an IdP under load would: retry
// storms, concurrent changes of one resource, oversize input and, on the
// embedded store, kill -9 during a write load. Everything runs on loopback,
// bounded in count and time, and is started and stopped here. It prints one
// line per case and ends with "N passed, N failed" (exit status 1 if any
// failed).
//
//	go run ./cmd/scimgate-stress [-bin path/to/scimgate] [-stores sqlite,dynamodb] [-serialize-moto=true]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	_ "modernc.org/sqlite" // the integrity check reads the embedded store's file

	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/dynamotest"
	"github.com/scimgate/scimgate/pkg/subprocess"
)

const (
	tenant    = "stress"
	sso       = "okta"
	patchOp   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	caseLimit = 3 * time.Minute // no case runs longer
)

func main() {
	bin := flag.String("bin", "", "scimgate binary to test (default: build ./cmd/scimgate)")
	storeList := flag.String("stores", "sqlite,dynamodb", "stores to run on")
	serializeMoto := flag.Bool("serialize-moto", true, "send moto one request at a time (moto is not thread-safe)")
	flag.Parse()
	work, err := os.MkdirTemp("", "scimgate-stress-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(work)
	if *bin == "" {
		*bin = filepath.Join(work, "scimgate")
		build := exec.Command("go", "build", "-o", *bin, "./cmd/scimgate")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fatal(fmt.Errorf("build scimgate: %w", err))
		}
	}
	started := time.Now()
	r := &report{}
	for _, store := range strings.Split(*storeList, ",") {
		env, err := startStore(store, *bin, work, *serializeMoto)
		if err != nil {
			r.fail(store, "start", err.Error())
			continue
		}
		runCases(r, env)
		env.stop()
	}
	fmt.Printf("took %s\n", time.Since(started).Round(time.Second))
	fmt.Printf("%d passed, %d failed\n", r.passed, r.failed)
	if r.failed > 0 {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "stress:", err)
	os.Exit(2)
}

type report struct {
	mu             sync.Mutex
	passed, failed int
}

func (r *report) line(ok bool, store, name, figure string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	verdict := "PASS"
	if ok {
		r.passed++
	} else {
		r.failed++
		verdict = "FAIL"
	}
	fmt.Printf("%s %-8s %-28s %s\n", verdict, store, name, figure)
}

func (r *report) fail(store, name, why string) { r.line(false, store, name, why) }

// env is one running scimgate serve on one store.
type env struct {
	store   string
	bin     string
	args    []string // store flags
	environ []string
	base    string
	token   string
	addr    string
	serve   *subprocess.Process
	data    string // embedded store file
	cleanup []func()
	client  *http.Client
}

func startStore(store, bin, work string, serializeMoto bool) (*env, error) {
	e := &env{store: store, bin: bin, client: &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}}
	e.environ = os.Environ()
	switch store {
	case "sqlite":
		e.data = filepath.Join(work, "scimgate.db")
		e.args = []string{"--data", e.data}
	case "dynamodb":
		moto, err := dynamotest.StartProcess()
		if err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		e.cleanup = append(e.cleanup, moto.Stop)
		endpoint := moto.Endpoint()
		if serializeMoto {
			proxy, stop, err := serializingProxy(endpoint)
			if err != nil {
				return nil, err
			}
			e.cleanup = append(e.cleanup, stop)
			endpoint = proxy
		}
		e.environ = append(e.environ, "AWS_ENDPOINT_URL_DYNAMODB="+endpoint, "AWS_REGION=us-east-1",
			"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_SESSION_TOKEN=")
		e.args = []string{"--dynamodb-table", "scimgate-stress"}
		// The table as scimgate defines it, without the stream: moto keeps
		// every stream record and copies them all for each item of each
		// transaction, which slows it down by orders of magnitude.
		def := dynamostore.TableDefinition("scimgate-stress")
		def.StreamSpecification = nil
		client := dynamodb.New(dynamodb.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(moto.Endpoint()),
			Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dynamostore.CreateTableFrom(ctx, client, def); err != nil {
			return nil, fmt.Errorf("create table: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown store %q", store)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	e.token = "scimgate_" + hex.EncodeToString(secret)
	if out, err := e.run(append([]string{"token", "create", "--tenant", tenant, "--sso", sso, "--secret", e.token}, e.args...)...); err != nil {
		return nil, fmt.Errorf("token create: %v: %s", err, out)
	}
	port, err := subprocess.FreePort()
	if err != nil {
		return nil, err
	}
	e.addr = fmt.Sprintf("127.0.0.1:%d", port)
	e.base = "http://" + e.addr + "/scim/v2/" + tenant + "/" + sso
	if err := e.startServe(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) run(args ...string) (string, error) {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.environ
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *env) startServe() error {
	// The suite measures contention, not the per-connection rate limit: it
	// sends one connection far more than an IdP would in a second.
	cmd := exec.Command(e.bin, append([]string{"serve", "--addr", e.addr, "--rate-limit", "off"}, e.args...)...)
	cmd.Env = append(e.environ, "SCIMGATE_LOG_LEVEL=error")
	proc, err := subprocess.Start(cmd, &subprocess.Buffer{Limit: 64 << 10})
	if err != nil {
		return err
	}
	e.serve = proc
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := e.client.Get(e.base + "/ServiceProviderConfig"); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-proc.Exited():
			return fmt.Errorf("scimgate serve exited: %s", proc.Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("scimgate serve did not answer within 30s")
}

func (e *env) stop() {
	if e.serve != nil {
		e.serve.Stop()
	}
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

// serializingProxy forwards to target one request at a time, as the test
// harness's clients do: moto applies a transaction item by item and rolls
// back by restoring a copy of the table, so concurrent requests can undo
// each other's writes or both pass a condition.
func serializingProxy(target string) (string, func(), error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a client that gave up is not news
	var mu sync.Mutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	port, err := subprocess.FreePort()
	if err != nil {
		return "", nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := netListen(addr)
	if err != nil {
		return "", nil, err
	}
	go srv.Serve(ln)
	return "http://" + addr, func() { srv.Close() }, nil
}

// response is a finished request.
type response struct {
	status int
	body   []byte
	etag   string
	err    error
}

func (r response) object() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

func (e *env) do(ctx context.Context, method, path string, body []byte, header ...string) response {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, rd)
	if err != nil {
		return response{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: b, etag: resp.Header.Get("ETag"), err: err}
}

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func patch(ops ...map[string]any) []byte {
	list := make([]any, len(ops))
	for i, op := range ops {
		list[i] = op
	}
	return jsonBody(map[string]any{"schemas": []string{patchOp}, "Operations": list})
}

// statuses counts outcomes: "204", "409", "error" ...
type statuses struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *statuses) add(r response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	key := fmt.Sprint(r.status)
	if r.err != nil {
		key = "error"
	}
	s.n[key]++
}

func (s *statuses) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%s", s.n[k], k))
	}
	return strings.Join(parts, " ")
}

func (s *statuses) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[key]
}

func (s *statuses) any5xx() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.n {
		if (strings.HasPrefix(k, "5") || k == "error") && v > 0 {
			return true
		}
	}
	return false
}

// parallel runs n calls of f at once.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// unique names a case's resources apart from every other case's.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

func (e *env) createUser(ctx context.Context, name string) (string, error) {
	r := e.do(ctx, "POST", "/Users", jsonBody(map[string]any{"userName": name, "emails": []any{map[string]any{"value": name, "type": "work", "primary": true}}}))
	if r.status != 201 {
		return "", fmt.Errorf("create user %s: %d %s %v", name, r.status, r.body, r.err)
	}
	id, _ := r.object()["id"].(string)
	return id, nil
}

func (e *env) createGroup(ctx context.Context, name string) (string, error) {
	r := e.do(ctx, "POST", "/Groups", jsonBody(map[string]any{"displayName": name}))
	if r.status != 201 {
		return "", fmt.Errorf("create group %s: %d %s", name, r.status, r.body)
	}
	id, _ := r.object()["id"].(string)
	return id, nil
}

func (e *env) members(ctx context.Context, gid string) (int, string, error) {
	r := e.do(ctx, "GET", "/Groups/"+gid, nil)
	if r.status != 200 {
		return 0, "", fmt.Errorf("get group: %d %s", r.status, r.body)
	}
	ms, _ := r.object()["members"].([]any)
	return len(ms), r.etag, nil
}

func (e *env) usersNamed(ctx context.Context, prefix string) (int, error) {
	q := url.QueryEscape(fmt.Sprintf(`userName sw "%s"`, prefix))
	r := e.do(ctx, "GET", "/Users?count=0&filter="+q, nil)
	if r.status != 200 {
		return 0, fmt.Errorf("list users: %d %s", r.status, r.body)
	}
	n, _ := r.object()["totalResults"].(float64)
	return int(n), nil
}

func runCases(r *report, e *env) {
	cases := []struct {
		name string
		run  func(ctx context.Context, e *env) (bool, string)
	}{
		{"retry-storm-users", stormUsers},
		{"retry-storm-groups", stormGroups},
		{"retry-storm-member-adds", stormMemberAdds},
		{"100-concurrent-member-adds", concurrentMemberAdds},
		{"50-concurrent-email-adds", concurrentEmailAdds},
		{"50-if-match-same-etag", concurrentIfMatch},
		{"oversize-corpus", oversizeCorpus},
	}
	if e.store == "sqlite" {
		cases = append(cases, struct {
			name string
			run  func(ctx context.Context, e *env) (bool, string)
		}{"kill-9-during-writes", killDuringWrites})
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), caseLimit)
		start := time.Now()
		ok, figure := c.run(ctx, e)
		cancel()
		r.line(ok, e.store, c.name, fmt.Sprintf("%s (%s)", figure, time.Since(start).Round(10*time.Millisecond)))
	}
}

// stormUsers: 30 users, each POSTed 3 times at once (an IdP retrying a
// create whose answer it did not get): exactly one 201 per user.
func stormUsers(ctx context.Context, e *env) (bool, string) {
	const n, copies = 30, 3
	prefix := unique("storm")
	var st statuses
	parallel(n*copies, func(i int) {
		name := fmt.Sprintf("%s-%02d@example.com", prefix, i/copies)
		st.add(e.do(ctx, "POST", "/Users", jsonBody(map[string]any{"userName": name})))
	})
	got, err := e.usersNamed(ctx, prefix)
	if err != nil {
		return false, err.Error()
	}
	return st.count("201") == n && st.count("409") == n*(copies-1) && got == n,
		fmt.Sprintf("%s → %d users (want %d×201 %d×409, %d users)", &st, got, n, n*(copies-1), n)
}

func stormGroups(ctx context.Context, e *env) (bool, string) {
	const n, copies = 20, 3
	prefix := unique("Storm group")
	var st statuses
	parallel(n*copies, func(i int) {
		st.add(e.do(ctx, "POST", "/Groups", jsonBody(map[string]any{"displayName": fmt.Sprintf("%s %02d", prefix, i/copies)})))
	})
	q := url.QueryEscape(fmt.Sprintf(`displayName sw "%s"`, prefix))
	lr := e.do(ctx, "GET", "/Groups?count=0&filter="+q, nil)
	got, _ := lr.object()["totalResults"].(float64)
	return st.count("201") == n && st.count("409") == n*(copies-1) && int(got) == n,
		fmt.Sprintf("%s → %d groups (want %d×201 %d×409)", &st, int(got), n, n*(copies-1))
}

// stormMemberAdds: 30 member adds to one group, each sent 3 times at once.
// All succeed; the group ends with 30 members and one version step each.
func stormMemberAdds(ctx context.Context, e *env) (bool, string) {
	const n, copies = 30, 3
	prefix := unique("stormm")
	users := make([]string, n)
	for i := range n {
		id, err := e.createUser(ctx, fmt.Sprintf("%s-%02d@example.com", prefix, i))
		if err != nil {
			return false, err.Error()
		}
		users[i] = id
	}
	gid, err := e.createGroup(ctx, prefix)
	if err != nil {
		return false, err.Error()
	}
	var st statuses
	parallel(n*copies, func(i int) {
		st.add(e.do(ctx, "PATCH", "/Groups/"+gid, patch(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": users[i/copies]}}})))
	})
	got, etag, err := e.members(ctx, gid)
	if err != nil {
		return false, err.Error()
	}
	want := fmt.Sprintf(`W/"%d"`, n+1)
	return st.count("204") == n*copies && got == n && etag == want,
		fmt.Sprintf("%s → %d members, ETag %s (want %d×204, %d members, %s)", &st, got, etag, n*copies, n, want)
}

func concurrentMemberAdds(ctx context.Context, e *env) (bool, string) {
	const n = 100
	prefix := unique("member")
	users := make([]string, n)
	for i := range n {
		id, err := e.createUser(ctx, fmt.Sprintf("%s-%03d@example.com", prefix, i))
		if err != nil {
			return false, err.Error()
		}
		users[i] = id
	}
	gid, err := e.createGroup(ctx, prefix)
	if err != nil {
		return false, err.Error()
	}
	var st statuses
	parallel(n, func(i int) {
		st.add(e.do(ctx, "PATCH", "/Groups/"+gid, patch(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": users[i]}}})))
	})
	got, _, err := e.members(ctx, gid)
	if err != nil {
		return false, err.Error()
	}
	return st.count("204") == n && got == n, fmt.Sprintf("%s → %d members (want %d×204, %d members)", &st, got, n, n)
}

func concurrentEmailAdds(ctx context.Context, e *env) (bool, string) {
	const n = 50
	name := unique("emails") + "@example.com"
	id, err := e.createUser(ctx, name)
	if err != nil {
		return false, err.Error()
	}
	var st statuses
	parallel(n, func(i int) {
		st.add(e.do(ctx, "PATCH", "/Users/"+id, patch(map[string]any{"op": "add", "path": "emails", "value": []any{map[string]any{"value": fmt.Sprintf("alias%02d-%s", i, name), "type": "other"}}})))
	})
	r := e.do(ctx, "GET", "/Users/"+id, nil)
	emails, _ := r.object()["emails"].([]any)
	added := len(emails) - 1
	return st.count("200") == n && added == n, fmt.Sprintf("%s → %d emails added (want %d×200, %d)", &st, added, n, n)
}

func concurrentIfMatch(ctx context.Context, e *env) (bool, string) {
	const n = 50
	id, err := e.createUser(ctx, unique("ifmatch")+"@example.com")
	if err != nil {
		return false, err.Error()
	}
	var st statuses
	parallel(n, func(i int) {
		st.add(e.do(ctx, "PATCH", "/Users/"+id, patch(map[string]any{"op": "replace", "path": "title", "value": fmt.Sprintf("title %d", i)}), "If-Match", `W/"1"`))
	})
	r := e.do(ctx, "GET", "/Users/"+id, nil)
	return st.count("200") == 1 && st.count("412") == n-1 && r.etag == `W/"2"`,
		fmt.Sprintf("%s → ETag %s (want 1×200 %d×412, W/\"2\")", &st, r.etag, n-1)
}

// oversizeCorpus sends inputs far beyond what any IdP sends; none may be
// answered with a 5xx (or left unanswered).
func oversizeCorpus(ctx context.Context, e *env) (bool, string) {
	mb := strings.Repeat("x", 1<<20)
	var manyEmails []any
	for i := range 50_000 {
		manyEmails = append(manyEmails, map[string]any{"value": fmt.Sprintf("e%05d@example.com", i)})
	}
	var manyOps []map[string]any
	for i := range 10_000 {
		manyOps = append(manyOps, map[string]any{"op": "add", "path": "emails", "value": []any{map[string]any{"value": fmt.Sprintf("p%05d@example.com", i)}}})
	}
	terms := make([]string, 1000)
	for i := range terms {
		terms[i] = fmt.Sprintf(`title eq "t%d"`, i)
	}
	target, err := e.createUser(ctx, unique("oversize")+"@example.com")
	if err != nil {
		return false, err.Error()
	}
	corpus := []struct {
		method, path string
		body         []byte
	}{
		{"POST", "/Users", jsonBody(map[string]any{"userName": unique("big") + "@example.com", "title": mb})},
		{"POST", "/Users", jsonBody(map[string]any{"userName": mb})},
		{"POST", "/Users", jsonBody(map[string]any{"userName": unique("ext") + "@example.com", "externalId": mb})},
		{"POST", "/Groups", jsonBody(map[string]any{"displayName": mb})},
		{"POST", "/Users", jsonBody(map[string]any{"userName": unique("huge") + "@example.com", "title": strings.Repeat(mb, 5)})},
		{"POST", "/Users", jsonBody(map[string]any{"userName": unique("many") + "@example.com", "emails": manyEmails})},
		{"PATCH", "/Users/" + target, patch(manyOps...)},
		{"PATCH", "/Users/" + target, patch(map[string]any{"op": "replace", "path": "title", "value": mb})},
		{"GET", "/Users?filter=" + url.QueryEscape(strings.Join(terms, " or ")), nil},
	}
	var st statuses
	for _, c := range corpus {
		st.add(e.do(ctx, c.method, c.path, c.body))
	}
	return !st.any5xx(), fmt.Sprintf("%d inputs → %s (want no 5xx)", len(corpus), &st)
}

// killDuringWrites kills scimgate serve with SIGKILL in the middle of a
// write load, restarts it on the same file, and checks the database's
// integrity and that every acknowledged write is there and every
// multi-part change (rename + member add in one PATCH) is whole.
func killDuringWrites(ctx context.Context, e *env) (bool, string) {
	prefix := unique("kill")
	gid, err := e.createGroup(ctx, prefix)
	if err != nil {
		return false, err.Error()
	}
	type ack struct{ user, name string }
	var mu sync.Mutex
	var acked []ack
	var renames []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("%s-w%d-%04d@example.com", prefix, w, i)
				id, err := e.createUser(ctx, name)
				if err != nil {
					return // the server is gone
				}
				display := fmt.Sprintf("%s w%d-%04d", prefix, w, i)
				r := e.do(ctx, "PATCH", "/Groups/"+gid, patch(
					map[string]any{"op": "replace", "path": "displayName", "value": display},
					map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}}))
				mu.Lock()
				acked = append(acked, ack{user: id, name: name})
				if r.status == 204 {
					renames = append(renames, id+"|"+display)
				}
				mu.Unlock()
				if r.status != 204 {
					return
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	_ = syscall.Kill(e.serve.Pid(), syscall.SIGKILL)
	<-e.serve.Exited()
	close(stop)
	wg.Wait()
	integrity, err := integrityCheck(e.data)
	if err != nil {
		return false, err.Error()
	}
	if err := e.startServe(); err != nil {
		return false, "restart: " + err.Error()
	}
	missing := 0
	for _, a := range acked {
		if r := e.do(ctx, "GET", "/Users/"+a.user, nil); r.status != 200 {
			missing++
		}
	}
	// Each PATCH renamed the group and added its user together: the group's
	// current name must belong to a member, and every acknowledged PATCH's
	// user must be a member.
	r := e.do(ctx, "GET", "/Groups/"+gid, nil)
	doc := r.object()
	members := map[string]bool{}
	ms, _ := doc["members"].([]any)
	for _, m := range ms {
		members[fmt.Sprint(m.(map[string]any)["value"])] = true
	}
	halfApplied := 0
	for _, rn := range renames {
		if id, _, _ := strings.Cut(rn, "|"); !members[id] {
			halfApplied++
		}
	}
	name, _ := doc["displayName"].(string)
	nameOwner := ""
	for _, rn := range renames {
		if id, display, _ := strings.Cut(rn, "|"); display == name {
			nameOwner = id
		}
	}
	if name != prefix && nameOwner != "" && !members[nameOwner] {
		halfApplied++
	}
	ok := integrity == "ok" && missing == 0 && halfApplied == 0 && r.status == 200
	return ok, fmt.Sprintf("%d acknowledged writes, integrity %q, %d missing, %d half-applied after restart", len(acked)+len(renames), integrity, missing, halfApplied)
}

func integrityCheck(path string) (string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	var orphans int
	if err := db.QueryRow(`SELECT count(*) FROM members m WHERE NOT EXISTS (SELECT 1 FROM resources r WHERE r.tenant = m.tenant AND r.sso = m.sso AND r.id = m.user_id AND r.deleted_at IS NULL)`).Scan(&orphans); err != nil {
		return "", fmt.Errorf("orphan check: %w", err)
	}
	if orphans > 0 {
		return fmt.Sprintf("%s, %d orphan memberships", res, orphans), nil
	}
	return res, nil
}

func netListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The Okta provisioning replay: per user a lookup by userName (none found),
// a create, a get, a replace and a deactivation; then one group per 50
// users, created and given its 50 members in one PATCH. It runs against
// `scimgate serve` on the embedded store and, in the same run, against
// scim2-server (python-scim), the reference SCIM server, as the yardstick.
// Only loopback traffic; every request has a timeout, and the number of
// connections is the concurrency.

const loadToken = "scimgate_perf-replay-token-not-a-secret-0123456789abcdef"

// replayOps are the operations in the order of the report's tables.
var replayOps = []string{"lookup", "create", "get", "replace", "deactivate", "createGroup", "groupPatch50"}

// buildScim2Server names the reference server's runs in results.Load.
const buildScim2Server = "scim2-server"

type loadResult struct {
	Concurrency int
	Users       int
	Requests    int
	Elapsed     time.Duration
	Latencies   map[string][]time.Duration
	ServerCPU   time.Duration // user+system time of the server's process tree during the replay
	// ServerCPUNotMeasured says why ServerCPU is not known (empty when it is).
	ServerCPUNotMeasured string        `json:",omitempty"`
	ClientCPU            time.Duration // the same of this process (the load generator)
	LogBytes             int           // log bytes the server wrote during the replay
}

func (r loadResult) reqPerSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// perRequestMs is d spread over the replay's requests, in milliseconds.
func (r loadResult) perRequestMs(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000 / float64(r.Requests)
}

// cpuCeiling is the rate cores could serve if the server and the load
// generator had them to themselves: a computed bound, not a measurement.
func (r loadResult) cpuCeiling(cores int) float64 {
	return float64(cores) * 1000 / (r.perRequestMs(r.ServerCPU) + r.perRequestMs(r.ClientCPU))
}

func (r loadResult) percentile(op string, p float64) time.Duration {
	l := slices.Clone(r.Latencies[op])
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	i := int(float64(len(l)-1) * p)
	return l[i]
}

// statusCheck says whether a response status is acceptable where the replay
// expects want.
type statusCheck func(got, want int) bool

// exactStatus holds scimgate to the statuses it documents.
func exactStatus(got, want int) bool { return got == want }

// anySuccess is for scim2-server, which answers PATCH with 204 No Content
// where scimgate answers 200 with the resource; RFC 7644 section 3.5.2
// allows either, so any 2xx counts.
func anySuccess(got, _ int) bool { return got >= 200 && got < 300 }

// replayTarget is a running server the replay is sent to.
type replayTarget struct {
	baseURL string // the SCIM base: /Users and /Groups are below it
	token   string
	check   statusCheck
	pid     int    // the server's process; its CPU is summed with its descendants'
	logPath string // where its output goes
}

// replay sends the Okta request sequence for users users to target at the
// given concurrency and measures it.
func replay(ctx context.Context, target replayTarget, users, concurrency int) (loadResult, error) {
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency},
	}
	defer client.CloseIdleConnections()
	res := loadResult{Concurrency: concurrency, Users: users, Latencies: map[string][]time.Duration{}}
	var mu sync.Mutex
	var firstErr error
	do := func(op, method, path, body string, want int) []byte {
		req, err := http.NewRequestWithContext(ctx, method, target.baseURL+path, strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Authorization", "Bearer "+target.token)
		if body != "" {
			req.Header.Set("Content-Type", "application/scim+json")
		}
		start := time.Now()
		resp, err := client.Do(req)
		var got []byte
		if err == nil {
			got, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && !target.check(resp.StatusCode, want) {
				err = fmt.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, got)
			}
		}
		d := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		res.Requests++
		res.Latencies[op] = append(res.Latencies[op], d)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return got
	}
	// Decoded, not cut out of the text: scim2-server writes `"id": "…"` with a space.
	idOf := func(body []byte) string {
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &v)
		return v.ID
	}
	userBody := func(i int, family string, active bool) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%06d@example.com","externalId":"00u%06d","name":{"givenName":"Ada","familyName":%q},"emails":[{"value":"user%06d@example.com","type":"work","primary":true}],"displayName":"Ada","active":%t}`, i, i, family, i, active)
	}
	logSize := func() int64 {
		st, err := os.Stat(target.logPath)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	ids := make([]string, users)
	logStart := logSize()
	cpuStart, cpuErr := treeCPU(target.pid)
	clientStart, _ := processCPU(os.Getpid())
	start := time.Now()
	parallel(concurrency, users, func(i int) {
		do("lookup", "GET", "/Users?filter="+url.QueryEscape(fmt.Sprintf(`userName eq "user%06d@example.com"`, i))+"&startIndex=1&count=100", "", 200)
		id := idOf(do("create", "POST", "/Users", userBody(i, "Lovelace", true), 201))
		ids[i] = id
		do("get", "GET", "/Users/"+id, "", 200)
		do("replace", "PUT", "/Users/"+id, userBody(i, "King", true), 200)
		do("deactivate", "PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`, 200)
	})
	parallel(concurrency, users/50, func(g int) {
		id := idOf(do("createGroup", "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Team %d","members":[]}`, g), 201))
		var members []string
		for _, u := range ids[g*50 : g*50+50] {
			members = append(members, fmt.Sprintf(`{"value":%q}`, u))
		}
		do("groupPatch50", "PATCH", "/Groups/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[`+strings.Join(members, ",")+`]}]}`, 204)
	})
	res.Elapsed = time.Since(start)
	cpuEnd, cpuEndErr := treeCPU(target.pid)
	if err := errors.Join(cpuErr, cpuEndErr); err != nil {
		res.ServerCPUNotMeasured = err.Error()
	} else {
		res.ServerCPU = cpuEnd - cpuStart
	}
	clientEnd, _ := processCPU(os.Getpid())
	res.ClientCPU = clientEnd - clientStart
	res.LogBytes = int(logSize() - logStart)
	if firstErr != nil {
		return res, firstErr
	}
	return res, nil
}

// runScimgateReplay starts cli serve on a fresh store in dir and replays
// users users at the given concurrency.
func runScimgateReplay(ctx context.Context, cli, dir string, users, concurrency int) (loadResult, error) {
	target, stop, err := startScimgate(ctx, cli, dir, concurrency)
	if err != nil {
		return loadResult{}, err
	}
	defer stop()
	return replay(ctx, target, users, concurrency)
}

func startScimgate(ctx context.Context, cli, dir string, concurrency int) (replayTarget, func(), error) {
	data := filepath.Join(dir, fmt.Sprintf("replay-%d.db", concurrency))
	tok := exec.CommandContext(ctx, cli, "token", "create", "--tenant", "perf", "--sso", "okta", "--data", data, "--secret", loadToken)
	if out, err := tok.CombinedOutput(); err != nil {
		return replayTarget{}, nil, fmt.Errorf("token create: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return replayTarget{}, nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logPath := filepath.Join(dir, fmt.Sprintf("serve-%d.log", concurrency))
	logFile, err := os.Create(logPath)
	if err != nil {
		return replayTarget{}, nil, err
	}
	serve := exec.Command(cli, "serve", "--addr", addr, "--data", data)
	serve.Stdout, serve.Stderr = io.Discard, logFile
	// The replay measures the server, not the per-connection rate limit
	// (50 requests/s by default), which would answer it 429.
	serve.Env = append(os.Environ(), "SCIMGATE_RATE_LIMIT=off")
	if err := serve.Start(); err != nil {
		logFile.Close()
		return replayTarget{}, nil, fmt.Errorf("start serve: %w", err)
	}
	stop := func() {
		serve.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			serve.Process.Kill()
			<-done
		}
		logFile.Close()
	}
	if err := waitListening(ctx, addr); err != nil {
		stop()
		return replayTarget{}, nil, err
	}
	return replayTarget{baseURL: "http://" + addr + "/scim/v2/perf/okta", token: loadToken, check: exactStatus,
		pid: serve.Process.Pid, logPath: logPath}, stop, nil
}

// scim2ServerCommand is how to start scim2-server: $SCIM2_SERVER split on
// spaces, else scim2-server on PATH; nil when neither is there.
func scim2ServerCommand() []string {
	if c := strings.Fields(os.Getenv("SCIM2_SERVER")); len(c) > 0 {
		return c
	}
	if p, err := exec.LookPath("scim2-server"); err == nil {
		return []string{p}
	}
	return nil
}

// runScim2ServerReplay starts scim2-server (an empty in-memory store each
// time) and replays users users at the given concurrency.
func runScim2ServerReplay(ctx context.Context, command []string, dir string, users, concurrency int) (loadResult, error) {
	target, stop, err := startScim2Server(ctx, command, dir, concurrency)
	if err != nil {
		return loadResult{}, err
	}
	defer stop()
	return replay(ctx, target, users, concurrency)
}

func startScim2Server(ctx context.Context, command []string, dir string, concurrency int) (replayTarget, func(), error) {
	port, err := freePort()
	if err != nil {
		return replayTarget{}, nil, err
	}
	// It logs every request at DEBUG on stderr: into the run's directory, not the terminal.
	logPath := filepath.Join(dir, fmt.Sprintf("scim2-server-%d.log", concurrency))
	logFile, err := os.Create(logPath)
	if err != nil {
		return replayTarget{}, nil, err
	}
	args := append(slices.Clone(command[1:]), "--port", strconv.Itoa(port), "--bearer-token", loadToken)
	cmd := exec.Command(command[0], args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its CLI runs werkzeug with the reloader: the process started here
	// watches files and a child of it serves. A process group of their own
	// lets one signal end both, so no server outlives the run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return replayTarget{}, nil, fmt.Errorf("start %s: %w", strings.Join(command, " "), err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		// The group, not only its leader: the serving child may outlive a
		// leader that has already exited.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
		logFile.Close()
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitAnswering(ctx, base+"/ServiceProviderConfig", loadToken, exited); err != nil {
		stop()
		tail, _ := os.ReadFile(logPath)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return replayTarget{}, nil, fmt.Errorf("%s: %w\n%s", strings.Join(command, " "), err, tail)
	}
	return replayTarget{baseURL: base, token: loadToken, check: anySuccess, pid: cmd.Process.Pid, logPath: logPath}, stop, nil
}

// waitAnswering waits until a GET of url with the bearer token answers 200:
// with the reloader the port can be bound before the application is loaded.
func waitAnswering(ctx context.Context, url, token string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	last := errors.New("no answer")
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("GET %s: %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited before it answered")
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("did not answer within 60s: %w", last)
}

// parallel runs f(0..n-1) on c goroutines.
func parallel(c, n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range c {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not listen within 30s", addr)
}

// treeCPU is the user+system CPU time of a process and all its descendants
// (Linux /proc): scim2-server serves from a child of the process started.
// Descendants that exit during the measurement take their time with them,
// which is why the servers measured here are long-lived processes.
func treeCPU(pid int) (time.Duration, error) {
	total, err := processCPU(pid)
	if err != nil {
		return 0, err
	}
	children, err := childPIDs(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range children {
		d, err := treeCPU(c)
		if err != nil {
			continue // exited between the listing and the read
		}
		total += d
	}
	return total, nil
}

// childPIDs lists the children of every thread of pid
// (/proc/<pid>/task/<tid>/children, Linux 3.5 and later).
func childPIDs(pid int) ([]int, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("no /proc/%d/task/*/children", pid)
	}
	var pids []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				pids = append(pids, c)
			}
		}
	}
	return pids, nil
}

// processCPU is the user+system CPU time of a process (Linux /proc).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	_, rest, ok := bytes.Cut(b, []byte(") "))
	if !ok {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(rest))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	// USER_HZ is 100 on Linux.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

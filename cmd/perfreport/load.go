package main

import (
	"bytes"
	"context"
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
	"time"
)

// The Okta provisioning replay against `scimgate serve` on the embedded
// store: per user a lookup by userName (none found), a create, a get, a
// replace and a deactivation; then one group per 50 users, created and given
// its 50 members in one PATCH. Only loopback traffic; every request has a
// timeout, and the number of connections is the concurrency.

const loadToken = "scimgate_perf-replay-token-not-a-secret-0123456789abcdef"

// replayOps are the operations in the order of the report's tables.
var replayOps = []string{"lookup", "create", "get", "replace", "deactivate", "createGroup", "groupPatch50"}

type loadResult struct {
	Concurrency int
	Users       int
	Requests    int
	Elapsed     time.Duration
	Latencies   map[string][]time.Duration
	ServerCPU   time.Duration // user+system time of the server process during the replay
	ClientCPU   time.Duration // the same of this process (the load generator)
	LogBytes    int           // access-log bytes the server wrote during the replay
}

func (r loadResult) reqPerSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r loadResult) percentile(op string, p float64) time.Duration {
	l := slices.Clone(r.Latencies[op])
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	i := int(float64(len(l)-1) * p)
	return l[i]
}

// runReplay starts cli serve on a fresh store in dir and replays users
// users at the given concurrency.
func runReplay(ctx context.Context, cli, dir string, users, concurrency int) (loadResult, error) {
	data := filepath.Join(dir, fmt.Sprintf("replay-%d.db", concurrency))
	tok := exec.CommandContext(ctx, cli, "token", "create", "--tenant", "perf", "--sso", "okta", "--data", data, "--secret", loadToken)
	if out, err := tok.CombinedOutput(); err != nil {
		return loadResult{}, fmt.Errorf("token create: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return loadResult{}, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logPath := filepath.Join(dir, fmt.Sprintf("serve-%d.log", concurrency))
	logFile, err := os.Create(logPath)
	if err != nil {
		return loadResult{}, err
	}
	defer logFile.Close()
	serve := exec.Command(cli, "serve", "--addr", addr, "--data", data)
	serve.Stdout, serve.Stderr = io.Discard, logFile
	// The replay measures the server, not the per-connection rate limit
	// (50 requests/s by default), which would answer it 429.
	serve.Env = append(os.Environ(), "SCIMGATE_RATE_LIMIT=off")
	if err := serve.Start(); err != nil {
		return loadResult{}, fmt.Errorf("start serve: %w", err)
	}
	defer func() {
		serve.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			serve.Process.Kill()
			<-done
		}
	}()
	if err := waitListening(ctx, addr); err != nil {
		return loadResult{}, err
	}
	logStart, _ := logFile.Seek(0, io.SeekEnd)

	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency},
	}
	base := "http://" + addr + "/scim/v2/perf/okta"
	res := loadResult{Concurrency: concurrency, Users: users, Latencies: map[string][]time.Duration{}}
	var mu sync.Mutex
	var firstErr error
	do := func(op, method, path, body string, want int) string {
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Authorization", "Bearer "+loadToken)
		if body != "" {
			req.Header.Set("Content-Type", "application/scim+json")
		}
		start := time.Now()
		resp, err := client.Do(req)
		var got []byte
		if err == nil {
			got, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != want {
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
		return string(got)
	}
	idOf := func(body string) string {
		_, rest, _ := strings.Cut(body, `"id":"`)
		id, _, _ := strings.Cut(rest, `"`)
		return id
	}
	userBody := func(i int, family string, active bool) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%06d@example.com","externalId":"00u%06d","name":{"givenName":"Ada","familyName":%q},"emails":[{"value":"user%06d@example.com","type":"work","primary":true}],"displayName":"Ada","active":%t}`, i, i, family, i, active)
	}
	ids := make([]string, users)
	cpuStart, _ := processCPU(serve.Process.Pid)
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
	cpuEnd, _ := processCPU(serve.Process.Pid)
	res.ServerCPU = cpuEnd - cpuStart
	clientEnd, _ := processCPU(os.Getpid())
	res.ClientCPU = clientEnd - clientStart
	logEnd, _ := logFile.Seek(0, io.SeekEnd)
	res.LogBytes = int(logEnd - logStart)
	if firstErr != nil {
		return res, firstErr
	}
	return res, nil
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

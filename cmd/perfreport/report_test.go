package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReportCallsTableIsCurrent runs the call-counting benchmark exactly as
// make bench-report does and fails if docs/performance.md's table of
// DynamoDB calls per operation differs from what it counts now: a change to
// the store that alters a count must come with a regenerated report. Counts
// only; no timing is compared.
func TestReportCallsTableIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		msg := "report calls-table test SKIPPED: moto_server is not installed"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: a missing moto_server is a failure)")
		}
		fmt.Fprintln(os.Stderr, "\n!!! "+msg+" !!!")
		t.Skip(msg)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "performance.md"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := parseCallsTable(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	// A bound for a hung run, not a speed check: on two cores shared with other builds and an empty build cache,
	// building the benchmark and running it on moto took more than 5 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	measured, out, err := callsBenchmark(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(measured) == 0 {
		t.Fatalf("the benchmark reported nothing:\n%s", out)
	}
	got := map[string]string{}
	for op, m := range measured {
		got[op] = num(m["ddbcalls/op"])
	}
	for op, calls := range got {
		if want[op] != calls {
			t.Errorf("%s: the report says %q DynamoDB calls, BenchmarkDynamoDBCalls counts %s now", op, want[op], calls)
		}
	}
	for op := range want {
		if _, ok := got[op]; !ok {
			t.Errorf("%s: in the report, no longer measured by BenchmarkDynamoDBCalls", op)
		}
	}
	if t.Failed() {
		t.Log("run make bench-report and commit docs/performance.md and docs/performance.svg")
	}
}

// parseCallsTable reads operation → calls from the report's table after
// callsTableStart.
func parseCallsTable(doc string) (map[string]string, error) {
	_, rest, ok := strings.Cut(doc, callsTableStart)
	if !ok {
		return nil, fmt.Errorf("docs/performance.md has no %s", callsTableStart)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(rest), "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 2 {
			continue
		}
		op, calls := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1])
		if _, err := strconv.ParseFloat(calls, 64); err != nil {
			continue // the header and separator rows
		}
		rows[op] = calls
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("the calls table after %s has no rows", callsTableStart)
	}
	return rows, nil
}

func TestParseCallsTable(t *testing.T) {
	doc := "intro\n\n" + callsTableStart + "\n| operation | DynamoDB calls | RRU | WRU |\n| --- | ---: | ---: | ---: |\n" +
		"| GetUser | 1 | 1 | 0 |\n| AddMembers100 | 5 | 105 | 402 |\n\nafter | x | 9 |\n"
	got, err := parseCallsTable(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["GetUser"] != "1" || got["AddMembers100"] != "5" {
		t.Errorf("parseCallsTable = %v", got)
	}
	if _, err := parseCallsTable("no table"); err == nil {
		t.Error("a document without the table parsed")
	}
}

func TestParseBench(t *testing.T) {
	out := "goos: linux\nBenchmarkDynamoDBCalls/GetUser-2   \t       1\t  15129383 ns/op\t         1.000 ddbcalls/op\t         1.000 rru/op\t         0 wru/op\n" +
		"--- BENCH: BenchmarkDynamoDBCalls/GetUser-2\nBenchmarkScale/ListPage100/startIndex=1/users=100000-2 \t 1\t 238.0 ns/op\t 36642681 ns/call\nPASS\n"
	res := parseBench(out)
	calls := byName(res, "DynamoDBCalls/")
	if calls["GetUser"]["ddbcalls/op"] != 1 || calls["GetUser"]["wru/op"] != 0 {
		t.Errorf("calls = %v", calls)
	}
	scale := byName(res, "Scale/")
	if scale["ListPage100/startIndex=1/users=100000"]["ns/call"] != 36642681 {
		t.Errorf("scale = %v", scale)
	}
}

// TestRenderScim2ServerRows renders the throughput rows from a run with and
// without scim2-server: the ratio and its target come from the two measured
// rates, and without a measurement the report says so and shows no figure.
func TestRenderScim2ServerRows(t *testing.T) {
	replayRun := func(build string, concurrency int, elapsed time.Duration) loadRun {
		t.Helper()
		lat := map[string][]time.Duration{}
		for _, op := range replayOps {
			lat[op] = []time.Duration{time.Millisecond, 3 * time.Millisecond}
		}
		return loadRun{build, loadResult{Concurrency: concurrency, Users: 500, Requests: 2520, Elapsed: elapsed,
			Latencies: lat, ServerCPU: time.Second, ClientCPU: time.Second}}
	}
	scimgate := replayRun("after", 8, time.Second) // 2520 requests/s
	tests := []struct {
		name     string
		r        results
		want     []string
		wantNone []string
	}{
		{
			name: "20 times as fast",
			r: results{Scim2Server: "scim2-server", Load: []loadRun{scimgate,
				replayRun(buildScim2Server, 8, 20*time.Second)}}, // 126 requests/s
			want: []string{
				"| ≥ 20× scim2-server in the same run (concurrency 8) | 20.0× (2520 vs 126 requests/s) | yes |",
				"| scim2-server | 8 | 2520 | **126** |",
				"| 8 | 2520 | 126 | **20.0×** |",
				"`scim2-server --port P --bearer-token T`",
				"scimgate is **20.0×** as fast",
			},
			wantNone: []string{"scim2-server not measured", "| not measured |"},
		},
		{
			name: "short of the target",
			r: results{Scim2Server: "python3 -m scim2_server.cli", Load: []loadRun{scimgate,
				replayRun(buildScim2Server, 8, 10*time.Second)}}, // 252 requests/s
			want: []string{
				"| ≥ 20× scim2-server in the same run (concurrency 8) | 10.0× (2520 vs 252 requests/s) | **no**, see section 4 |",
				"| 8 | 2520 | 252 | **10.0×** |",
				"`python3 -m scim2_server.cli --port P --bearer-token T`",
			},
		},
		{
			name: "server CPU of the tree unknown",
			r: results{Scim2Server: "scim2-server", Load: []loadRun{scimgate, func() loadRun {
				l := replayRun(buildScim2Server, 8, 20*time.Second)
				l.ServerCPUNotMeasured = "no /proc/1/task/*/children"
				return l
			}()}},
			want: []string{"| scim2-server | 8 | 2520 | **126** | not measured | 0.40 ms | not measured |"},
		},
		{
			name: "not installed",
			r:    results{Scim2ServerNotMeasured: "install it (`pip install scim2-server`) or set SCIM2_SERVER", Load: []loadRun{scimgate}},
			want: []string{
				"**scim2-server not measured:** install it (`pip install scim2-server`) or set SCIM2_SERVER.",
				"| ≥ 20× scim2-server in the same run (concurrency 8) | scim2-server not measured: install it (`pip install scim2-server`) or set SCIM2_SERVER | not measured |",
			},
			wantNone: []string{"| scim2-server |", "scimgate ÷ scim2-server", "as fast"},
		},
		{
			name:     "measured at another concurrency only",
			r:        results{Scim2Server: "scim2-server", Load: []loadRun{scimgate, replayRun(buildScim2Server, 1, 20*time.Second)}},
			want:     []string{"| ≥ 20× scim2-server in the same run (concurrency 8) | scim2-server not measured at concurrency 8 in this run | not measured |"},
			wantNone: []string{"scimgate ÷ scim2-server"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			if err := render(&tt.r, out); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, "performance.md"))
			if err != nil {
				t.Fatal(err)
			}
			doc := string(b)
			for _, s := range tt.want {
				if !strings.Contains(doc, s) {
					t.Errorf("the report lacks %q", s)
				}
			}
			for _, s := range tt.wantNone {
				if strings.Contains(doc, s) {
					t.Errorf("the report has %q", s)
				}
			}
			if t.Failed() {
				t.Logf("report:\n%s", doc)
			}
		})
	}
}

// TestTreeCPUFindsDescendants starts a shell whose child burns CPU, as
// werkzeug's reloader serves from a child: the child must be found under
// the process started, and its time counted in the tree's.
func TestTreeCPUFindsDescendants(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc: the report's CPU figures are Linux-only")
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if children, err := childPIDs(cmd.Process.Pid); err == nil {
			for _, c := range children {
				_ = syscall.Kill(c, syscall.SIGKILL)
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		children, err := childPIDs(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		own, _ := processCPU(cmd.Process.Pid)
		tree, err := treeCPU(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(children) == 1 && tree > own {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the busy child's CPU time is not in the tree's after 10 s")
}

// TestRenderThroughputShortfall: below the targets, section 4 says from the
// run's own figures how far the CPU ceiling is from them; at the targets it
// says nothing.
func TestRenderThroughputShortfall(t *testing.T) {
	run := func(build string, concurrency int, elapsed time.Duration) loadRun {
		return loadRun{build, loadResult{Concurrency: concurrency, Users: 500, Requests: 2520, Elapsed: elapsed,
			Latencies: map[string][]time.Duration{}, ServerCPU: time.Second, ClientCPU: time.Second}}
	}
	tests := []struct {
		name     string
		load     []loadRun
		want     []string
		wantNone bool
	}{
		{
			name: "below 3,000",
			load: []loadRun{run("after", 8, 2*time.Second)}, // 1260 requests/s
			want: []string{"The targets ask for 3000 requests/s there (3,000).", "0.40 ms of CPU per request and the load generator 0.40 ms",
				"at most 2520 requests/s", "3000 requests/s leave 0.67 ms per request", "The replay reached 50% of that ceiling"},
		},
		{
			name: "20 times scim2-server asks more",
			load: []loadRun{run("after", 8, time.Second), run(buildScim2Server, 8, 10*time.Second), run("after", 32, time.Second/2)},
			want: []string{"The targets ask for 5040 requests/s there (20× scim2-server's 252; 3,000 alone).", "With 32 connections more of them share one: 5040 requests/s."},
		},
		{
			name:     "targets met",
			load:     []loadRun{run("after", 8, time.Second/2)}, // 5040 requests/s
			wantNone: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := throughputShortfall(&results{Machine: machineInfo{Cores: 2}, Load: tt.load})
			if tt.wantNone != (got == "") {
				t.Fatalf("paragraph %q, want none: %t", got, tt.wantNone)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in %q", w, got)
				}
			}
		})
	}
}

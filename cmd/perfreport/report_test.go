package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// benchResult is one line of `go test -bench` output: the benchmark's name
// without the Benchmark prefix and the -GOMAXPROCS suffix, and its metrics
// by unit (ns/op, ddbcalls/op, ...).
type benchResult struct {
	Name    string
	Metrics map[string]float64
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseBench reads the result lines of go test -bench output.
func parseBench(out string) []benchResult {
	var results []benchResult
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		r := benchResult{Name: m[1], Metrics: map[string]float64{}}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			r.Metrics[f[i+1]] = v
		}
		results = append(results, r)
	}
	return results
}

// byName indexes results by name, dropping prefix from each name.
func byName(results []benchResult, prefix string) map[string]map[string]float64 {
	m := map[string]map[string]float64{}
	for _, r := range results {
		if name, ok := strings.CutPrefix(r.Name, prefix); ok {
			m[name] = r.Metrics
		}
	}
	return m
}

// runBench runs `go test -run ^$ -bench pattern` in pkg of the module at root
// and returns its output; env is added to the environment.
func runBench(ctx context.Context, root, pkg, pattern string, extraArgs []string, env ...string) (string, error) {
	args := append([]string{"test", "-run", "^$", "-bench", pattern, "-benchtime", "1x", "-timeout", "30m"}, extraArgs...)
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// callsBenchmark runs the call-counting benchmark (pkg/httpapi
// BenchmarkDynamoDBCalls) and returns its metrics by operation. The report's
// table of calls is made from it, and the test that keeps that table current
// runs it the same way.
const (
	callsBenchPkg     = "./pkg/httpapi"
	callsBenchPattern = "^BenchmarkDynamoDBCalls$"
)

func callsBenchmark(ctx context.Context, root string) (map[string]map[string]float64, string, error) {
	out, err := runBench(ctx, root, callsBenchPkg, callsBenchPattern, nil)
	if err != nil {
		return nil, out, err
	}
	return byName(parseBench(out), "DynamoDBCalls/"), out, nil
}

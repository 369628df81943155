// Command perfreport runs scimgate's benchmarks and writes the performance
// report: docs/performance.md (tables) and docs/performance.svg (the scale
// curves). Every figure in them is measured by this run; `make bench-report`
// runs it from the repository root.
//
//	go run ./cmd/perfreport [-out docs] [-baseline COMMIT] [-steps ddb,scale,groupcommit,coldstart,load] [-scim2-concurrency 1,8,32]
//
// The load step also replays the same requests against scim2-server, the
// reference Python SCIM server, as a yardstick: $SCIM2_SERVER is the command
// that starts it (split on spaces), else scim2-server on PATH; without
// either the report says it was not measured.
//
// The raw figures are also written to -json (in the temporary directory by
// default), from which -render-only rewrites the two documents without
// measuring again.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "perfreport:", err)
		os.Exit(1)
	}
}

// results is everything the report shows.
type results struct {
	Machine       machineInfo
	Started       time.Time
	Elapsed       time.Duration
	StepDurations map[string]time.Duration

	Calls         map[string]map[string]float64 // BenchmarkDynamoDBCalls, by operation
	Sequences     map[string]map[string]float64 // BenchmarkProvisioningSequences
	ScaleSQLite   map[string]map[string]float64
	ScaleDDB      map[string]map[string]float64
	SQLiteOnTmpfs bool

	GroupCommit        map[string]map[string]float64
	GroupCommitProfile map[string]string // pprof -top of each mode

	ColdStart *coldStartResult

	Baseline string    // commit measured as "before group commit"
	Load     []loadRun // scimgate's runs ("before", "after") and scim2-server's (buildScim2Server)

	// Scim2Server is the command scim2-server was started with, without
	// directories; Scim2ServerNotMeasured says why it was not (empty when it was).
	Scim2Server            string `json:",omitempty"`
	Scim2ServerNotMeasured string `json:",omitempty"`
}

type loadRun struct {
	Build string // "before" or "after"
	loadResult
}

type machineInfo struct {
	CPU          string
	Cores        int
	GOARCH       string
	GoVersion    string
	MemoryMB     int
	LoadAvgStart string
	LoadAvgEnd   string
	BusyOthers   float64 // share of the machine's CPU time used by other processes during the run
}

func run() error {
	out := flag.String("out", "docs", "directory for performance.md, performance.svg and performance.json")
	baseline := flag.String("baseline", "", "commit of the embedded store without group commit, measured as the throughput baseline")
	steps := flag.String("steps", "ddb,scale,groupcommit,coldstart,load", "steps to run")
	users := flag.Int("users", 500, "users per throughput replay")
	scim2Conc := flag.String("scim2-concurrency", "1,8,32", "concurrencies of the scim2-server replay (comma-separated; each takes 10 to 20 s)")
	renderOnly := flag.Bool("render-only", false, "rewrite the documents from -json without measuring")
	jsonFlag := flag.String("json", filepath.Join(os.TempDir(), "scimgate-performance.json"), "where the raw figures are kept")
	flag.Parse()
	var scim2Concurrencies []int
	for _, s := range strings.Split(*scim2Conc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 {
			return fmt.Errorf("-scim2-concurrency: %q is not a concurrency", s)
		}
		scim2Concurrencies = append(scim2Concurrencies, c)
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	jsonPath := *jsonFlag
	if *renderOnly {
		b, err := os.ReadFile(jsonPath)
		if err != nil {
			return err
		}
		var r results
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		return render(&r, *out)
	}
	// An interrupt cancels the run instead of ending the process at once, so
	// that the servers it started are stopped: scim2-server runs in a process
	// group of its own, which the terminal's Ctrl-C does not reach.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "scimgate-perf-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	r := &results{Started: time.Now().UTC(), StepDurations: map[string]time.Duration{}, Baseline: *baseline}
	r.Machine = machine()
	cpuStart := readCPUStat()
	selfStart := childrenCPU()
	want := map[string]bool{}
	for _, s := range strings.Split(*steps, ",") {
		want[strings.TrimSpace(s)] = true
	}
	step := func(name string, f func() error) error {
		if !want[name] {
			return nil
		}
		fmt.Fprintf(os.Stderr, "perfreport: %s ...\n", name)
		start := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.StepDurations[name] = time.Since(start)
		fmt.Fprintf(os.Stderr, "perfreport: %s took %v\n", name, time.Since(start).Round(time.Second))
		return nil
	}
	if err := step("ddb", func() error {
		out, err := runBench(ctx, root, callsBenchPkg, "^(BenchmarkDynamoDBCalls|BenchmarkProvisioningSequences)$", nil)
		if err != nil {
			return err
		}
		res := parseBench(out)
		r.Calls = byName(res, "DynamoDBCalls/")
		r.Sequences = byName(res, "ProvisioningSequences/")
		if len(r.Calls) == 0 || len(r.Sequences) == 0 {
			return fmt.Errorf("no DynamoDB benchmark results (is moto_server installed?):\n%s", out)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := step("scale", func() error {
		var env []string
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			env = append(env, "SCIMGATE_BENCH_DIR=/dev/shm")
			r.SQLiteOnTmpfs = true
		}
		out, err := runBench(ctx, root, "./pkg/sqlitestore", "^BenchmarkScale$", nil, env...)
		if err != nil {
			return err
		}
		r.ScaleSQLite = byName(parseBench(out), "Scale/")
		out, err = runBench(ctx, root, "./pkg/dynamostore", "^BenchmarkScale$", nil)
		if err != nil {
			return err
		}
		r.ScaleDDB = byName(parseBench(out), "Scale/")
		return nil
	}); err != nil {
		return err
	}
	if err := step("groupcommit", func() error {
		r.GroupCommit = map[string]map[string]float64{}
		r.GroupCommitProfile = map[string]string{}
		for _, mode := range []string{"one-transaction-per-write", "group-commit"} {
			prof := filepath.Join(work, mode+".pprof")
			out, err := runBench(ctx, root, "./pkg/sqlitestore", "^BenchmarkConcurrentCreates$/^"+mode+"$",
				[]string{"-benchtime", "3000x", "-cpuprofile", prof, "-o", filepath.Join(work, "sqlitestore.test")})
			if err != nil {
				return err
			}
			for k, v := range byName(parseBench(out), "ConcurrentCreates/") {
				r.GroupCommit[k] = v
			}
			top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=12", prof).Output()
			if err != nil {
				return fmt.Errorf("pprof: %w", err)
			}
			r.GroupCommitProfile[mode] = string(top)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := step("coldstart", func() error {
		cs, err := measureColdStart(ctx, root, work, 15)
		r.ColdStart = cs
		return err
	}); err != nil {
		return err
	}
	if err := step("load", func() error {
		builds := []struct{ name, dir string }{{"after", root}}
		if *baseline != "" {
			dir := filepath.Join(work, "baseline")
			if err := exportCommit(ctx, root, *baseline, dir); err != nil {
				return err
			}
			builds = append([]struct{ name, dir string }{{"before", dir}}, builds...)
		}
		clis := map[string]string{}
		for _, b := range builds {
			cli := filepath.Join(work, "scimgate-"+b.name)
			cmd := exec.CommandContext(ctx, "go", "build", "-o", cli, "./cmd/scimgate")
			cmd.Dir = b.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("build scimgate (%s): %w\n%s", b.name, err, out)
			}
			clis[b.name] = cli
		}
		command := scim2ServerCommand()
		if command == nil {
			r.Scim2ServerNotMeasured = "install it (`pip install scim2-server`) or set SCIM2_SERVER"
			fmt.Fprintln(os.Stderr, "perfreport:   scim2-server not measured: install it (pip install scim2-server) or set SCIM2_SERVER")
		} else {
			r.Scim2Server = strings.Join(append([]string{filepath.Base(command[0])}, command[1:]...), " ")
		}
		scimgateConcurrencies := []int{1, 8, 32}
		// Concurrency by concurrency, every server in turn: the runs a ratio
		// compares follow one another, so a change in the load other
		// processes put on a shared machine falls on both sides of it alike.
		concurrencies := slices.Concat(scimgateConcurrencies, scim2Concurrencies)
		slices.Sort(concurrencies)
		measure := func(build string, c int, replay func(dir string) (loadResult, error)) error {
			dir := filepath.Join(work, "load-"+build)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			res, err := replay(dir)
			if err != nil {
				return fmt.Errorf("replay (%s, concurrency %d): %w", build, c, err)
			}
			r.Load = append(r.Load, loadRun{build, res})
			fmt.Fprintf(os.Stderr, "perfreport:   %s c=%d: %.0f req/s\n", build, c, res.reqPerSec())
			return nil
		}
		for _, c := range slices.Compact(concurrencies) {
			if slices.Contains(scimgateConcurrencies, c) {
				for _, b := range builds {
					if err := measure(b.name, c, func(dir string) (loadResult, error) {
						return runScimgateReplay(ctx, clis[b.name], dir, *users, c)
					}); err != nil {
						return err
					}
				}
			}
			if command != nil && slices.Contains(scim2Concurrencies, c) {
				if err := measure(buildScim2Server, c, func(dir string) (loadResult, error) {
					return runScim2ServerReplay(ctx, command, dir, *users, c)
				}); err != nil {
					return err
				}
			}
		}
		// The report's tables list each server's runs together.
		rank := map[string]int{"before": 0, "after": 1, buildScim2Server: 2}
		slices.SortStableFunc(r.Load, func(a, b loadRun) int { return rank[a.Build] - rank[b.Build] })
		return nil
	}); err != nil {
		return err
	}
	r.Elapsed = time.Since(r.Started)
	r.Machine.LoadAvgEnd = loadAvg()
	r.Machine.BusyOthers = othersBusy(cpuStart, readCPUStat(), childrenCPU()-selfStart)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return render(r, *out)
}

// exportCommit writes the tree of commit into dir (git archive), to build it.
func exportCommit(ctx context.Context, root, commit, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("git archive %q | tar -x -C %q", commit, dir))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("export commit %s: %w\n%s", commit, err, out)
	}
	return nil
}

func machine() machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), GOARCH: runtime.GOARCH, LoadAvgStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(strings.TrimPrefix(strings.Split(string(b), "\n")[0], "MemTotal:"), "%d", &kb)
		m.MemoryMB = kb / 1024
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// cpuStat is the machine's CPU time from /proc/stat, in clock ticks.
type cpuStat struct{ busy, total int64 }

func readCPUStat() cpuStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}
	}
	f := strings.Fields(strings.Split(string(b), "\n")[0])[1:]
	var s cpuStat
	for i, v := range f {
		var n int64
		fmt.Sscanf(v, "%d", &n)
		s.total += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
	}
	return s
}

// childrenCPU is the CPU time this process and its waited-for children have
// used, in clock ticks (100 per second).
func childrenCPU() int64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	var sum int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		var n int64
		fmt.Sscanf(f[i], "%d", &n)
		sum += n
	}
	return sum
}

// othersBusy estimates the share of all cores that processes other than this
// run kept busy while it ran.
func othersBusy(start, end cpuStat, ours int64) float64 {
	total := end.total - start.total
	if total <= 0 {
		return 0
	}
	return max(0, float64(end.busy-start.busy-ours)/float64(total))
}

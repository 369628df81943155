package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/localrun"
	"github.com/scimgate/scimgate/pkg/dynamotest"
)

// Cold start: the Users function and a hello-world function, both built as
// deployed (for this machine's architecture), each started fresh under the
// Lambda Runtime Interface Emulator several times, alternating; the
// emulator's INIT REPORT gives the init duration of each start.

type coldStartResult struct {
	Runs               int
	Users, Hello       []time.Duration
	InitTrace          []initTraceEntry // the Users function's package initialisers, slowest first
	InitTraceTotal     float64          // ms, all packages
	Phases             [][2]string      // initphases output: phase, ms
	Sizes              []binarySize     // linux/arm64, as make build
	LogBytesPerRequest float64          // what the Users function and the emulator print per invoke
	LogSample          int              // invokes the log bytes were measured over
	HandlerDurations   []time.Duration  // REPORT Duration of warm invokes
}

type initTraceEntry struct {
	Pkg     string
	ClockMs float64
}

type binarySize struct {
	Name  string
	Bytes int64
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

var initTraceLine = regexp.MustCompile(`^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock`)
var reportDuration = regexp.MustCompile(`REPORT RequestId: \S+\s+(?:Init Duration: [0-9.]+ ms\s+)?Duration: ([0-9.]+) ms`)

func measureColdStart(ctx context.Context, root, work string, runs int) (*coldStartResult, error) {
	rie, err := localrun.FindRIE()
	if err != nil {
		return nil, err
	}
	moto, err := dynamotest.StartProcess()
	if err != nil {
		return nil, err
	}
	defer moto.Stop()
	cli, err := localrun.BuildCLI(ctx, root, work)
	if err != nil {
		return nil, err
	}
	table := "scimgate-perf"
	env := localrun.FunctionEnv(moto.Endpoint(), table, "AWS_LAMBDA_FUNCTION_NAME=UsersFunction")
	if err := localrun.Seed(ctx, cli, env); err != nil {
		return nil, err
	}
	build := func(dir string) (string, error) {
		out := filepath.Join(work, "bootstrap-"+filepath.Base(dir))
		if err := os.MkdirAll(out, 0o755); err != nil {
			return "", err
		}
		return localrun.BuildBootstrap(ctx, root, dir, out)
	}
	usersBin, err := build("functions/users")
	if err != nil {
		return nil, err
	}
	helloBin, err := build("cmd/perfreport/hello")
	if err != nil {
		return nil, err
	}
	event, err := os.ReadFile(filepath.Join(root, "events", "06-users-lookup-absent.json"))
	if err != nil {
		return nil, err
	}
	res := &coldStartResult{Runs: runs}
	start := func(bin string, extra ...string) (*localrun.Emulator, time.Duration, error) {
		emu, err := localrun.StartEmulator(ctx, rie, bin, append(slices.Clone(env), extra...))
		if err != nil {
			return nil, 0, err
		}
		if _, err := emu.Invoke(ctx, event); err != nil {
			emu.Stop()
			return nil, 0, fmt.Errorf("%s: %w\n%s", bin, err, emu.Logs())
		}
		// The emulator's log reaches us through a pipe, possibly after the
		// invoke's answer.
		d, _, ok := emu.InitDuration()
		for wait := 0; !ok && wait < 100; wait++ {
			time.Sleep(20 * time.Millisecond)
			d, _, ok = emu.InitDuration()
		}
		if !ok {
			emu.Stop()
			return nil, 0, fmt.Errorf("%s: no INIT REPORT in the emulator's log:\n%s", bin, emu.Logs())
		}
		return emu, d, nil
	}
	for range runs {
		for _, f := range []struct {
			bin string
			to  *[]time.Duration
		}{{usersBin, &res.Users}, {helloBin, &res.Hello}} {
			emu, d, err := start(f.bin)
			if err != nil {
				return nil, err
			}
			emu.Stop()
			*f.to = append(*f.to, d)
		}
	}

	// What the init of the Users function spends its time on: the Go
	// runtime's trace of package initialisers (the bootstrap run on its own,
	// outside the emulator, which is a Go program too and would trace its
	// own packages; without a Runtime API the bootstrap exits after init)...
	trace := exec.CommandContext(ctx, usersBin)
	trace.Env = append(slices.Clone(env), "GODEBUG=inittrace=1")
	traceOut, _ := trace.CombinedOutput()
	byPkg := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(traceOut)))
	for sc.Scan() {
		if m := initTraceLine.FindStringSubmatch(sc.Text()); m != nil {
			ms, _ := strconv.ParseFloat(m[2], 64)
			byPkg[m[1]] += ms
			res.InitTraceTotal += ms
		}
	}
	for p, ms := range byPkg {
		res.InitTrace = append(res.InitTrace, initTraceEntry{p, ms})
	}
	sort.Slice(res.InitTrace, func(i, j int) bool { return res.InitTrace[i].ClockMs > res.InitTrace[j].ClockMs })

	// ...and the steps of lambdamain.New, timed in a fresh process.
	phasesBin := filepath.Join(work, "initphases")
	b := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", phasesBin, "./functions/internal/lambdamain/initphases")
	b.Dir = root
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := b.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build initphases: %w\n%s", err, out)
	}
	ph := exec.CommandContext(ctx, phasesBin)
	ph.Env = append(slices.Clone(env), "SCIMGATE_DYNAMODB_TABLE="+table)
	out, err := ph.Output()
	if err != nil {
		return nil, fmt.Errorf("initphases: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			res.Phases = append(res.Phases, [2]string{f[0], f[1]})
		}
	}

	// Log bytes and handler duration per request: warm invokes of the
	// lookup event, everything the function and the emulator print (the
	// START, END and REPORT lines included, which CloudWatch also ingests).
	emu, _, err := start(usersBin)
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
	before := len(emu.Logs())
	const warm = 20
	for range warm {
		if _, err := emu.Invoke(ctx, event); err != nil {
			return nil, err
		}
	}
	time.Sleep(500 * time.Millisecond) // let the last REPORT line arrive
	logs := emu.Logs()
	res.LogBytesPerRequest = float64(len(logs)-before) / warm
	res.LogSample = warm
	for _, m := range reportDuration.FindAllStringSubmatch(logs[before:], -1) {
		ms, _ := strconv.ParseFloat(m[1], 64)
		res.HandlerDurations = append(res.HandlerDurations, time.Duration(ms*float64(time.Millisecond)))
	}

	// Binary sizes for linux/arm64 with the Makefile's flags.
	dirs, _ := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	for _, d := range dirs {
		name := filepath.Base(filepath.Dir(d))
		out := filepath.Join(work, "arm64", name, "bootstrap")
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, "./functions/"+name)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s for arm64: %w\n%s", name, err, o)
		}
		st, err := os.Stat(out)
		if err != nil {
			return nil, err
		}
		res.Sizes = append(res.Sizes, binarySize{name, st.Size()})
	}
	return res, nil
}

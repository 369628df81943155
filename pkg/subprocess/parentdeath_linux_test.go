package subprocess_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/subprocess"
)

// TestChildEndsWhenItsStarterDies: a test binary that dies without
// cleaning up (killed by go test's time limit) must not leave its servers
// running. The starter here is this test binary run again as a helper: it
// starts a long sleep, prints its pid, and exits without calling Stop.
func TestChildEndsWhenItsStarterDies(t *testing.T) {
	if os.Getenv("SUBPROCESS_HELPER_STARTER") == "1" {
		p, err := subprocess.Start(exec.Command("sleep", "60"), nil)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println(p.Pid())
		os.Exit(0) // no Stop: as when the binary is killed
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildEndsWhenItsStarterDies$")
	cmd.Env = append(os.Environ(), "SUBPROCESS_HELPER_STARTER=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v (%s)", err, out)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper printed %q", out)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if !running(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d still runs 5 s after the process that started it exited", pid)
}

// running reports whether pid is a live process (not a zombie awaiting its reaper).
func running(pid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if state, ok := strings.CutPrefix(sc.Text(), "State:"); ok {
			return !strings.HasPrefix(strings.TrimSpace(state), "Z")
		}
	}
	return false
}

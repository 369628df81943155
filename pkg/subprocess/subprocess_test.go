package subprocess_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/subprocess"
)

func TestStopEndsTheProcessGroup(t *testing.T) {
	// The shell's child sleeps on after the shell would have been killed alone.
	p, err := subprocess.Start(exec.Command("sh", "-c", "echo started; sleep 60 & wait"), nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Output(), "started") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	p.Stop()
	if time.Since(start) > 4*time.Second {
		t.Fatalf("Stop took %v: the group did not end on SIGTERM", time.Since(start))
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("process still running after Stop")
	}
	p.Stop() // stopping twice is harmless
}

func TestBufferKeepsTheTail(t *testing.T) {
	b := &subprocess.Buffer{Limit: 8}
	b.Write([]byte("0123456789")) // one write longer than the limit
	b.Write([]byte("ab"))
	if got := b.String(); got != "456789ab" {
		t.Fatalf("tail = %q, want %q", got, "456789ab")
	}
	unlimited := &subprocess.Buffer{}
	unlimited.Write([]byte(strings.Repeat("x", 100)))
	if len(unlimited.String()) != 100 {
		t.Fatalf("unlimited buffer lost data")
	}
}

func TestFreePort(t *testing.T) {
	p, err := subprocess.FreePort()
	if err != nil || p <= 0 {
		t.Fatalf("FreePort = %d, %v", p, err)
	}
}

// Package subprocess runs the local servers that the tests and `make invoke`
// start (moto_server, aws-lambda-rie) as child processes, each in a process
// group of its own so that stopping one also ends what it spawned (the
// emulator's bootstrap, moto's workers).
package subprocess

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a process has to exit after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// Process is a started child process.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	output *Buffer
}

// Start starts cmd in its own process group with its stdout and stderr
// collected in output (nil discards nothing: a Buffer of unlimited size).
func Start(cmd *exec.Cmd, output *Buffer) (*Process, error) {
	if output == nil {
		output = &Buffer{}
	}
	cmd.Stdout, cmd.Stderr = output, output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	endWithParent(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, exited: make(chan struct{}), output: output}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Output returns what the process wrote so far (its tail, for a bounded Buffer).
func (p *Process) Output() string { return p.output.String() }

// Stop ends the process group, politely first, and waits for the process.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Buffer collects a process's output from both its pipes at once. With a
// Limit it keeps only the last Limit bytes: moto logs every request, and
// only the end matters when it fails.
type Buffer struct {
	Limit int
	mu    sync.Mutex
	buf   bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.Limit; b.Limit > 0 && over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package subprocess

import "syscall"

// endWithParent asks Linux to send the child SIGTERM when the process that
// started it dies (prctl PR_SET_PDEATHSIG): a test binary killed by its
// time limit never runs its cleanup, and would otherwise leave moto_server
// or the emulator running, holding a port and memory, until the machine
// restarts.
func endWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGTERM }

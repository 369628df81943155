//go:build !linux

package subprocess

import "syscall"

// endWithParent: only Linux can tie a child's life to its parent's; on
// other systems a killed test binary's servers outlive it.
func endWithParent(*syscall.SysProcAttr) {}

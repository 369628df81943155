package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// EnvCPUProfile names a file serve writes a CPU profile of its whole run to
// (go tool pprof reads it): how the throughput replay's server cost is
// found. Unset, nothing is profiled.
const EnvCPUProfile = "SCIMGATE_CPU_PROFILE"

// startCPUProfile starts the CPU profile EnvCPUProfile asks for; the
// returned function stops it and closes the file.
func startCPUProfile() (stop func() error, err error) {
	path := os.Getenv(EnvCPUProfile)
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvCPUProfile, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start the CPU profile: %w", EnvCPUProfile, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("%s: write the CPU profile: %w", EnvCPUProfile, err)
		}
		return nil
	}, nil
}

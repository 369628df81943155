package main

import (
	"os"
	"runtime/debug"
)

// serveGCPercent is serve's garbage-collection target when GOGC is not set:
// the heap may grow to five times what is live before a collection, instead
// of Go's default of twice. Every SCIM request allocates some 40 KB of
// short-lived JSON and SQL values on a live heap of a few megabytes, so at
// the default the collector ran several times a second and took about a
// sixth of the server's CPU (BenchmarkOktaReplaySQLite: cpu-µs/req -20% at
// 400). The cost is memory: the Okta replay's peak resident size went from
// 35 to 46 MB.
const serveGCPercent = 400

// tuneGC sets serveGCPercent unless the operator chose a value with GOGC,
// and returns the function that puts the previous one back.
func tuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(serveGCPercent)
	return func() { debug.SetGCPercent(prev) }
}

package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCLeavesAnExplicitGOGC(t *testing.T) {
	for _, tc := range []struct {
		gogc string
		want int
	}{
		{"", serveGCPercent},
		{"150", 100}, // what the test set before: GOGC is read by the runtime at start only
	} {
		t.Run("GOGC="+tc.gogc, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			before := debug.SetGCPercent(100)
			defer debug.SetGCPercent(before)
			restore := tuneGC()
			got := debug.SetGCPercent(-1)
			debug.SetGCPercent(got)
			restore()
			if got != tc.want {
				t.Errorf("GC percent %d, want %d", got, tc.want)
			}
			if after := debug.SetGCPercent(100); after != 100 {
				t.Errorf("after restore: GC percent %d, want 100", after)
			}
		})
	}
}

package functions_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/internal/localrun"
)

// builds are the binaries this test binary has built, each built once by the
// first test that needs it: the end-to-end tests share the scimgate CLI and
// the webhooks bootstrap, and linking one takes seconds of CPU. No test
// writes to them or beside them.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string // package directory → binary
}

// built returns the binary of the main package at pkgDir (relative to the
// module root), building it with build into a directory of its own on first use.
func built(t *testing.T, pkgDir string, build func(outDir string) (string, error)) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin, ok := builds.bins[pkgDir]; ok {
		return bin
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "scimgate-functions-test-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.bins = dir, map[string]string{}
	}
	out := filepath.Join(builds.dir, pkgDir)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := build(out)
	if err != nil {
		t.Fatal(err)
	}
	builds.bins[pkgDir] = bin
	return bin
}

// builtBootstrap is functions/<dir>'s bootstrap, built as deployed for this machine.
func builtBootstrap(t *testing.T, ctx context.Context, dir string) string {
	t.Helper()
	pkgDir := "functions/" + dir
	return built(t, pkgDir, func(out string) (string, error) {
		return localrun.BuildBootstrap(ctx, moduleRoot, pkgDir, out)
	})
}

// builtCLI is the scimgate command.
func builtCLI(t *testing.T, ctx context.Context) string {
	t.Helper()
	return built(t, "cmd/scimgate", func(out string) (string, error) {
		return localrun.BuildCLI(ctx, moduleRoot, out)
	})
}

// removeBuilds deletes every binary built; TestMain calls it after the tests.
func removeBuilds() {
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
}

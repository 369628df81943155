package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
)

func versionCommand() *command {
	return &command{
		name:     "version",
		synopsis: "",
		summary:  "Print the version of this build: module version, commit and Go version.",
		define: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, out streams) error {
				fmt.Fprintln(out.stdout, versionString())
				return nil
			}
		},
	}
}

// versionString reads the version the Go toolchain stamped into the binary.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "scimgate (unknown version)"
	}
	version := info.Main.Version
	if version == "" || version == "(devel)" {
		version = "devel"
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	out := "scimgate " + version
	if revision != "" {
		if len(revision) > 12 {
			revision = revision[:12]
		}
		out += " (" + revision + modified + ")"
	}
	return out + " " + info.GoVersion
}

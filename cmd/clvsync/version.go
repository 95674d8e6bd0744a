package main

import (
	"fmt"
	"runtime/debug"
)

// buildInfo is what the binary knows of its build: the module version, the
// VCS revision and time (with "+dirty" when built from a modified tree) and
// the Go version.
type buildInfo struct {
	Version, Revision, Time, GoVersion string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Revision: "unknown", GoVersion: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion = bi.GoVersion
	if v := bi.Main.Version; v != "" {
		b.Version = v
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		b.Revision += "+dirty"
	}
	return b
}

// versionLine is what `clvsync version` prints.
func versionLine() string {
	b := readBuildInfo()
	s := fmt.Sprintf("clvsync %s (revision %s", b.Version, b.Revision)
	if b.Time != "" {
		s += ", " + b.Time
	}
	return s + ", " + b.GoVersion + ")"
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommands_SameConfigMessage: every command reads the config through
// one reader, so a YAML typo reads the same from each of them.
func TestCommands_SameConfigMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clvsync.yaml")
	if err := os.WriteFile(path, []byte("model:\n  typo_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const want = `model.typo_key: unknown key "typo_key" (line 2)`
	for name, cmd := range map[string]func(t *testing.T) (int, string, string){
		"run":      func(t *testing.T) (int, string, string) { return runCmd(t, runRun, "--config", path) },
		"validate": func(t *testing.T) (int, string, string) { return runCmd(t, runValidate, "--config", path, "--offline") },
		"setup":    func(t *testing.T) (int, string, string) { return runCmd(t, runSetup, "--config", path) },
		"report":   func(t *testing.T) (int, string, string) { return runCmd(t, runReport, "--config", path) },
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errs := cmd(t)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if all := out + errs; !strings.Contains(all, want) || strings.Contains(all, "not found in type") {
				t.Errorf("output lacks %q:\n%s", want, all)
			}
		})
	}
}

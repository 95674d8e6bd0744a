package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// commands are every command of the CLI.
var commands = []string{"demo", "fakehub", "run", "serve", "runs", "status", "init", "validate", "properties", "setup",
	"fit", "report", "backup"}

// One convention for every command: -h, --help and `clvsync help CMD` exit
// 0 and print the same format on stdout (usage line, flags as --name).
func TestCLI_HelpIsOneFormat(t *testing.T) {
	singleDash := regexp.MustCompile(`(?m)^  -[a-z]`)
	for _, cmd := range commands {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--help"}, {"help", cmd}} {
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code != exitOK {
				t.Errorf("%v: exit %d, want 0\n%s", args, code, errb.String())
				continue
			}
			text := out.String()
			if !strings.HasPrefix(text, "Usage: clvsync "+cmd) || !strings.Contains(text, "\nFlags:\n") {
				t.Errorf("%v: not the common help format:\n%s", args, text)
			}
			if singleDash.MatchString(text) {
				t.Errorf("%v: flags listed as -flag, usage says --flag:\n%s", args, text)
			}
		}
	}
}

// `clvsync version` and `--version` print the module version, the VCS
// revision and the Go version.
func TestCLI_Version(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		if !strings.HasPrefix(out.String(), "clvsync ") || !strings.Contains(out.String(), "go1.") {
			t.Errorf("%v: %q", args, out.String())
		}
	}
}

package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// backupSetup writes a config whose state file holds some data, and returns
// the config's path and the config.
func backupSetup(t *testing.T) (string, config.Config) {
	t.Helper()
	dir := t.TempDir()
	cfg := config.DefaultConfig()
	cfg.State.Path = filepath.Join(dir, "clvsync.db")
	cfg.Operations.Listen = "off"
	s, err := state.Open(cfg.State.Path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutContacts([]state.Contact{{ID: "1", Email: "a@example.com"}, {ID: "2", Email: "b@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta("backup_test", "original"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return opsWriteConfig(t, cfg), cfg
}

// backupCheckCopy opens a backup and checks it holds the test data.
func backupCheckCopy(t *testing.T, path string) {
	t.Helper()
	s, err := state.Open(path, state.Options{ReadOnly: true, Check: state.CheckFull})
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer s.Close()
	if v, _ := s.Meta("backup_test"); v != "original" {
		t.Errorf("backup meta = %q", v)
	}
	if c, ok, err := s.Contact("2"); err != nil || !ok || c.Email != "b@example.com" {
		t.Errorf("backup contact 2 = %+v, %v, %v", c, ok, err)
	}
}

func TestBackup_StateFileFree(t *testing.T) {
	cfgPath, cfg := backupSetup(t)
	dst := filepath.Join(t.TempDir(), "backup.db")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"backup", "--config", cfgPath, dst}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), dst) {
		t.Errorf("stdout does not name the backup: %q", stdout.String())
	}
	backupCheckCopy(t, dst)
	if _, err := os.Stat(cfg.State.Path + ".pid"); err == nil {
		t.Error("a read-only backup left a pid file")
	}
}

func TestBackup_WhileServeHoldsTheFile(t *testing.T) {
	cfgPath, cfg := backupSetup(t)
	s, err := state.Open(cfg.State.Path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backup", backupHandler(s))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg.Operations.Listen = strings.TrimPrefix(srv.URL, "http://")
	cfgPath = opsWriteConfig(t, cfg)

	dst := filepath.Join(t.TempDir(), "backup.db")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"backup", "--config", cfgPath, dst}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "clvsync serve") {
		t.Errorf("stdout does not say the copy came from serve: %q", stdout.String())
	}
	backupCheckCopy(t, dst)

	t.Run("serve not reachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Operations.Listen = l.Addr().String()
		l.Close()
		cfgPath := opsWriteConfig(t, cfg)
		stderr.Reset()
		if code := run([]string{"backup", "--config", cfgPath, dst + "2"}, &stdout, &stderr); code != exitLocked {
			t.Fatalf("exit %d, want %d: %s", code, exitLocked, stderr.String())
		}
		if _, err := os.Stat(dst + "2"); err == nil {
			t.Error("a failed backup left a file")
		}
	})
}

func TestBackup_CorruptStateFile(t *testing.T) {
	cfgPath, cfg := backupSetup(t)
	raw, err := os.ReadFile(cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.State.Path, raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HUBSPOT_TOKEN", "pat-na1-test")
	// Every command that opens the state file says so with the same code,
	// not 2 (bad config), and never crashes.
	for _, args := range [][]string{
		{"backup", "--config", cfgPath, filepath.Join(t.TempDir(), "b.db")},
		{"run", "--config", cfgPath},
		{"runs", "--config", cfgPath},
		{"status", "--config", cfgPath, "--offline"},
		{"report", "--config", cfgPath},
	} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		if code != exitCorruptState {
			t.Errorf("%s: exit %d, want %d: %s", args[0], code, exitCorruptState, stderr.String())
		}
		if !strings.Contains(stderr.String(), "corrupt") {
			t.Errorf("%s: stderr = %q", args[0], stderr.String())
		}
	}
}

func TestBackup_Usage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"backup"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("no PATH: exit %d", code)
	}
}

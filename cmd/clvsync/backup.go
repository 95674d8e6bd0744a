package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// runBackup writes a consistent copy of the state file to PATH. With the
// file free it opens it read-only; while `clvsync serve` holds it, it asks
// serve's GET /backup. Either way the copy is checked (opened, every page
// walked) before it replaces PATH.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cf commonFlags
	fs := newFlags("backup", stderr, "backup --config FILE PATH")
	cf.register(fs)
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "error: backup needs one PATH: the file to write the copy to")
		fs.Usage()
		return exitUsage
	}
	dst := fs.Arg(0)
	cfg, err := cf.loadConfig()
	if err != nil {
		return fail(stderr, err)
	}
	source := "state file " + cfg.State.Path
	n, err := backupLocal(cfg, dst)
	if errors.Is(err, state.ErrLocked) {
		source = "clvsync serve"
		var herr error
		if n, herr = backupFromServe(ctx, cfg, dst); herr != nil {
			return fail(stderr, lockedHint(err, herr))
		}
		err = nil
	}
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Backed up %s (%s) from %s to %s\n", cfg.State.Path, humanBytes(n), source, dst)
	return exitOK
}

// backupLocal copies the state file with the file free: a read-only open
// shares the lock with other readers and fails with ErrLocked while a
// writer holds it.
func backupLocal(cfg config.Config, dst string) (int64, error) {
	if _, err := os.Stat(cfg.State.Path); errors.Is(err, os.ErrNotExist) {
		return 0, config.Problems{{Key: "state.path", Msg: fmt.Sprintf("%s does not exist", cfg.State.Path),
			Fix: "point --config at the config the worker uses"}}
	}
	s, err := state.Open(cfg.State.Path, state.Options{Timeout: 500 * time.Millisecond, ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	return writeChecked(dst, s.Backup)
}

// backupFromServe downloads the copy from the running serve.
func backupFromServe(ctx context.Context, cfg config.Config, dst string) (int64, error) {
	base, ok := serveURL(cfg.Operations.Listen)
	if !ok {
		return 0, errors.New("operations.listen is off, so the running clvsync cannot be asked")
	}
	// A large file takes a while; the copy itself is one read transaction in
	// serve, which does not block its runs.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/backup", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask clvsync serve at %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("ask clvsync serve at %s/backup: %s (a serve older than this clvsync has no /backup)", base, resp.Status)
	}
	return writeChecked(dst, func(w io.Writer) (int64, error) { return io.Copy(w, resp.Body) })
}

// writeChecked writes the copy next to dst, opens it as a state file with a
// full check, and only then renames it over dst: a damaged or partial copy
// never replaces a good backup.
func writeChecked(dst string, write func(io.Writer) (int64, error)) (int64, error) {
	part := dst + ".part"
	n, err := state.WriteFileAtomic(part, write)
	if err != nil {
		return n, fmt.Errorf("write backup %s: %w", dst, err)
	}
	s, err := state.Open(part, state.Options{ReadOnly: true, Check: state.CheckFull, Timeout: time.Second})
	if err == nil {
		err = s.Close()
	}
	if err == nil {
		err = os.Rename(part, dst)
	}
	if err != nil {
		_ = os.Remove(part)
		return n, fmt.Errorf("check backup %s: %w", dst, err)
	}
	return n, nil
}

// backupHandler serves GET /backup on serve's operations endpoint: a
// consistent copy of the state file, taken in one read transaction while
// runs go on. Register it in serve's mux:
//
//	mux.HandleFunc("GET /backup", backupHandler(s.d.Store))
func backupHandler(store *state.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="clvsync-backup.db"`)
		if _, err := store.Backup(w); err != nil {
			// The status is sent; a cut-off body fails the client's check of
			// the copy.
			panic(http.ErrAbortHandler)
		}
	}
}

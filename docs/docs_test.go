// Package docs holds the guides; its test checks that every reference to
// them in the repository resolves.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// anchor turns a Markdown heading into its GitHub anchor.
func anchor(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = regexp.MustCompile(`[^a-z0-9 _-]`).ReplaceAllString(h, "")
	return strings.ReplaceAll(h, " ", "-")
}

// Every docs/*.md (and #anchor) named by code, configs, units or the README
// exists.
func TestEveryDocReferenceResolves(t *testing.T) {
	ref := regexp.MustCompile(`docs/([a-z_-]+\.md)(#[a-z0-9_-]+)?`)
	heading := regexp.MustCompile(`(?m)^#+ (.+)$`)
	n := 0
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".md", ".yaml", ".yml", ".service", ".timer", "":
		default:
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			n++
			doc, err := os.ReadFile(m[1])
			if err != nil {
				t.Errorf("%s names docs/%s, which does not exist", p, m[1])
				continue
			}
			if m[2] == "" {
				continue
			}
			found := false
			for _, h := range heading.FindAllStringSubmatch(string(doc), -1) {
				found = found || "#"+anchor(h[1]) == m[2]
			}
			if !found {
				t.Errorf("%s names docs/%s%s: no such heading", p, m[1], m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no reference found: the walk is broken")
	}
}

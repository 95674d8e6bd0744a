// Package deploy holds the deployment examples; its test checks they work
// as written.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// kinds returns the kinds of the Kubernetes documents in a YAML file.
func kinds(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind       string            `yaml:"kind"`
			StringData map[string]string `yaml:"stringData"`
			Resources  []string          `yaml:"resources"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc.Kind == "Secret" {
			for k, v := range doc.StringData {
				if strings.Contains(v, "replace-me") {
					t.Errorf("%s: a Secret with a placeholder %s would overwrite the real one when applied", path, k)
				}
			}
		}
		out = append(out, doc.Kind)
	}
}

// applied returns the kinds `kubectl apply -k dir` creates, following the
// kustomization's resources.
func applied(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			out = append(out, applied(t, p)...)
		} else {
			out = append(out, kinds(t, p)...)
		}
	}
	return out
}

// Applying a folder never overwrites the token Secret and never starts two
// writers on one state volume.
func TestKubernetes_OneWriterNoPlaceholderSecret(t *testing.T) {
	for _, variant := range []string{"k8s/cronjob", "k8s/serve"} {
		ks := applied(t, variant)
		if slices.Contains(ks, "Secret") {
			t.Errorf("%s applies a Secret: the token must be created by hand", variant)
		}
		if slices.Contains(ks, "CronJob") && slices.Contains(ks, "Deployment") {
			t.Errorf("%s starts both a CronJob and a Deployment on one state volume", variant)
		}
		if !slices.Contains(ks, "PersistentVolumeClaim") || !slices.Contains(ks, "ConfigMap") {
			t.Errorf("%s lacks the config or the state volume: %v", variant, ks)
		}
	}
	// `kubectl apply -f DIR` takes the .yaml, .yml and .json files of DIR.
	err := filepath.WalkDir("k8s", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" || ext == ".json" {
			if filepath.Base(p) != "kustomization.yaml" {
				kinds(t, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, dir := range []string{"k8s", "k8s/base", "k8s/cronjob", "k8s/serve"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		var ks []string
		for _, f := range files {
			if filepath.Base(f) != "kustomization.yaml" {
				ks = append(ks, kinds(t, f)...)
			}
		}
		if slices.Contains(ks, "CronJob") && slices.Contains(ks, "Deployment") {
			t.Errorf("kubectl apply -f %s would start a CronJob and a Deployment together", dir)
		}
		all = append(all, ks...)
	}
	if !slices.Contains(all, "CronJob") || !slices.Contains(all, "Deployment") {
		t.Errorf("both variants must exist: %v", all)
	}
}

// The Dockerfile's commands name the config, and the systemd units do not
// restart on exit codes a restart cannot fix.
func TestDockerfileAndUnits(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "clvsync run") && !strings.Contains(line, "--config") {
			t.Errorf("Dockerfile example without --config: %s", line)
		}
		if strings.HasPrefix(line, "CMD") && !strings.Contains(line, "--config") {
			t.Errorf("Dockerfile CMD without --config: %s", line)
		}
	}
	u, err := os.ReadFile("systemd/clvsync-serve.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^RestartPreventExitStatus=(.*)$`).FindSubmatch(u)
	if m == nil {
		t.Fatal("clvsync-serve.service has no RestartPreventExitStatus")
	}
	codes := strings.Fields(string(m[1]))
	for _, c := range []string{"2", "3", "4", "6", "9"} {
		if !slices.Contains(codes, c) {
			t.Errorf("RestartPreventExitStatus lacks exit %s, which a restart cannot fix", c)
		}
	}
}

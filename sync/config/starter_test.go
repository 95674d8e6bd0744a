package config

import (
	"bytes"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestStarterYAML_RoundTrip(t *testing.T) {
	for name, cfg := range map[string]Config{
		"starter": StarterConfig(),
		"prefilled": func() Config {
			c := StarterConfig()
			PortalFacts{
				WonStages:      []StageRef{{Pipeline: "default", Stage: "closedwon"}, {Pipeline: "123", Stage: "456"}},
				StageLabels:    map[StageRef]string{},
				AmountProperty: "amount", HasCurrencyProperty: true,
				Currencies: []string{"EUR", "USD"}, HomeCurrency: "EUR", PortalID: 1,
			}.Apply(&c)
			return c
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			out, err := StarterYAML(cfg, []string{"a note"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseConfig(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("ParseConfig(starter): %v\n%s", err, out)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate(starter): %v", err)
			}
			// Compare through YAML: nil and empty slices are the same setting.
			a, _ := yaml.Marshal(cfg)
			b, _ := yaml.Marshal(got)
			if !bytes.Equal(normalizeEmpty(a), normalizeEmpty(b)) {
				t.Errorf("round trip changed the config:\nwant:\n%s\ngot:\n%s", a, b)
			}
		})
	}
}

func normalizeEmpty(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte(": []\n"), []byte(": null\n"))
}

// TestStarterYAML_EveryKeyCommented makes sure a key added to Config gets
// a comment in keyComments.
func TestStarterYAML_EveryKeyCommented(t *testing.T) {
	out, err := StarterYAML(StarterConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], path)
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := strings.TrimPrefix(path+"."+k.Value, ".")
				if k.HeadComment == "" && k.LineComment == "" && n.Content[i+1].LineComment == "" {
					t.Errorf("key %s has no comment in the starter file", p)
				}
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(&doc, "")
	if !strings.Contains(string(out), "HUBSPOT_TOKEN") || strings.Contains(string(out), "\ntoken:") {
		t.Error("the starter must explain HUBSPOT_TOKEN and never hold a token key")
	}
}

func TestShortDuration(t *testing.T) {
	for in, want := range map[string]string{"1h0m0s": "1h", "5m0s": "5m", "30s": "30s", "1h30m0s": "1h30m", "0": "0", "top": "top"} {
		if got := shortDuration(in); got != want {
			t.Errorf("shortDuration(%q) = %q, want %q", in, got, want)
		}
	}
}

// Package archtest checks Panda's package structure as docs/ARCHITECTURE.md
// states it: every package has a layer, and no package imports one that stands
// above it.
package archtest

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/pandadeploy/panda/"

// layers is the table of docs/ARCHITECTURE.md ("Packages"): a package may
// import packages of its own layer or below, never above. A new package gets
// a row here and in the document.
var layers = map[string]int{
	// 0: contracts and leaves, standard library and drivers only.
	"pipeline": 0, "command": 0, "config": 0, "secrets": 0, "store": 0, "tasks": 0,
	"names": 0, "retry": 0, "redact": 0, "ghtext": 0, "freeze": 0, "events": 0, "deploy/aws": 0, "delivery": 0,
	// 1: one concern each: a stage, a GitHub or AWS conversation, a file format.
	"repoconfig": 1, "pipeline/source": 1, "pipeline/image": 1, "pipeline/rollout": 1,
	"checks": 1, "githubapp": 1, "connections": 1, "metrics": 1, "audit": 1, "commitstatus": 1,
	// 2: the GitHub conversation around a deployment.
	"conversation": 2,
	// 3: a deployment's life, shared by both binaries.
	"deployment": 3,
	// 4: the front doors: HTTP (api, webhook) and the worker's handlers.
	"api": 4, "webhook": 4, "jobs": 4, "sweeper": 4,
	// 5: wiring.
	"cmd/app": 5, "cmd/worker": 5,
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// exempt are the tests' and tools' packages: test servers, the e2e suite and
// the benchmarks may use anything, and nothing in production imports them.
func exempt(rel string) bool {
	return strings.HasPrefix(rel, "internal/") || rel == "e2e" || strings.HasPrefix(rel, "bench/")
}

func TestNoPackageImportsAbove(t *testing.T) {
	pkgs := list(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.ImportPath, module)
		if exempt(rel) {
			continue
		}
		own, ok := layers[rel]
		if !ok {
			t.Errorf("%s has no layer: add it to docs/ARCHITECTURE.md and to the table here", rel)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if exempt(dep) {
				t.Errorf("%s imports the test package %s", rel, dep)
				continue
			}
			if l, ok := layers[dep]; ok && l > own {
				t.Errorf("%s (layer %d) imports %s (layer %d), which stands above it", rel, own, dep, l)
			}
		}
	}
}

// TestDocumentedLayers holds docs/ARCHITECTURE.md's layer table to the one
// above: the same packages in the same layers.
func TestDocumentedLayers(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| ([0-9]) \| (.*?) \|`)
	name := regexp.MustCompile("`([^`]+)`")
	documented := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		layer, _ := strconv.Atoi(m[1])
		for _, n := range name.FindAllStringSubmatch(m[2], -1) {
			documented[n[1]] = layer
		}
	}
	for pkg, layer := range layers {
		if got, ok := documented[pkg]; !ok || got != layer {
			t.Errorf("docs/ARCHITECTURE.md puts %s in layer %d (found %v), the table here in %d", pkg, got, ok, layer)
		}
	}
	for pkg := range documented {
		if _, ok := layers[pkg]; !ok {
			t.Errorf("docs/ARCHITECTURE.md names %s, which has no layer here", pkg)
		}
	}
}

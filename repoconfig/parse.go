package repoconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pandadeploy/panda/names"
)

// Parse decodes and validates a .panda.yml. Every error it returns is a
// *FieldError wrapping a permanent *pipeline.Error whose message names the line
// and the field, for example
//
//	.panda.yml line 7: environments.production.container_port: must be a whole number from 1 to 65535
//
// Unknown fields are errors, so a typo is never silently ignored. Anchors and
// aliases are refused: they are how a small file expands into a huge one, and
// a deployment config has no need for them. Parse never panics.
func Parse(data []byte) (Config, error) {
	if len(data) > MaxSize {
		return Config{}, newFieldError(0, "", "is larger than %d KiB", MaxSize>>10)
	}
	root, err := decode(data)
	if err != nil {
		return Config{}, err
	}
	if err := refuseAliases(root); err != nil {
		return Config{}, err
	}
	return parseRoot(root)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decode parses exactly one YAML document into a node tree, without resolving
// anything into Go values yet.
func decode(data []byte) (root *yaml.Node, err error) {
	// yaml.v3 has panicked on hostile input before (CVE-2022-28948); a file
	// from a repository must never take the worker down.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, newFieldError(0, "", "is not valid YAML")
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, newFieldError(0, "", "is empty: it must name at least one environment under environments")
	} else if err != nil {
		return nil, syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(err)
		}
		return nil, newFieldError(extra.Line, "", "holds more than one YAML document (---); only one is allowed")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, newFieldError(0, "", "is not a YAML document")
	}
	return doc.Content[0], nil
}

// syntaxError turns "yaml: line 3: did not find expected key" into a FieldError on line 3.
func syntaxError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return newFieldError(line, "", "is not valid YAML: %s", m[2])
	}
	return newFieldError(0, "", "is not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// refuseAliases walks the tree (iteratively: depth is attacker-controlled) and
// refuses any anchor, alias or merge key, without ever following an alias.
func refuseAliases(root *yaml.Node) error {
	stack := []*yaml.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Kind == yaml.AliasNode || n.Anchor != "" || n.Tag == "!!merge" {
			return newFieldError(n.Line, "", "uses YAML anchors or aliases (& * <<), which are not supported: write each value out")
		}
		stack = append(stack, n.Content...)
	}
	return nil
}

func parseRoot(root *yaml.Node) (Config, error) {
	if root.Kind != yaml.MappingNode {
		return Config{}, newFieldError(root.Line, "", "must be a mapping with an environments key")
	}
	var envs *yaml.Node
	err := eachField(root, "", func(key, val *yaml.Node, path string) error {
		if key.Value != "environments" {
			return unknownField(key, path, []string{"environments"})
		}
		envs = val
		return nil
	})
	if err != nil {
		return Config{}, err
	}
	if envs == nil {
		return Config{}, newFieldError(root.Line, "environments", "is missing: name at least one environment")
	}
	return parseEnvironments(envs)
}

func parseEnvironments(node *yaml.Node) (Config, error) {
	if node.Kind != yaml.MappingNode || len(node.Content) == 0 {
		return Config{}, newFieldError(node.Line, "environments", "must map environment names to their settings")
	}
	var cfg Config
	defaults := 0
	err := eachField(node, "environments", func(key, val *yaml.Node, path string) error {
		if err := names.Environment(key.Value); err != nil {
			return newFieldError(key.Line, path, "%s", problem(err))
		}
		env, err := parseEnv(key, val, path)
		if err != nil {
			return err
		}
		if env.Default {
			if defaults++; defaults > 1 {
				return newFieldError(key.Line, path+".default", "only one environment may be the default")
			}
		}
		cfg.Environments = append(cfg.Environments, env)
		return nil
	})
	if err != nil {
		return Config{}, err
	}
	sort.Slice(cfg.Environments, func(i, j int) bool { return cfg.Environments[i].Name < cfg.Environments[j].Name })
	if len(cfg.Environments) == 1 {
		cfg.Environments[0].Default = true
	}
	return cfg, nil
}

// eachField calls fn for every key/value of the mapping node, in file order,
// refusing keys that are not plain strings and keys that repeat.
func eachField(node *yaml.Node, prefix string, fn func(key, val *yaml.Node, path string) error) error {
	seen := make(map[string]bool, len(node.Content)/2)
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, val := node.Content[i], node.Content[i+1]
		if key.Kind != yaml.ScalarNode || key.Tag != "!!str" {
			return newFieldError(key.Line, prefix, "keys must be plain names")
		}
		path := join(prefix, key.Value)
		if seen[key.Value] {
			return newFieldError(key.Line, path, "is set twice")
		}
		seen[key.Value] = true
		if err := fn(key, val, path); err != nil {
			return err
		}
	}
	return nil
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// unknownField reports key as unknown, suggesting the closest known name.
func unknownField(key *yaml.Node, path string, known []string) error {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key.Value), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return newFieldError(key.Line, path, "is not a known field (did you mean %s?)", best)
	}
	return newFieldError(key.Line, path, "is not a known field (known: %s)", strings.Join(known, ", "))
}

// editDistance is the Levenshtein distance between short ASCII names.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// describe says what a node is, for "must be a string, not a list".
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null":
		return "empty"
	case n.Tag == "!!bool":
		return "true/false"
	}
	return fmt.Sprintf("%q", n.Value)
}

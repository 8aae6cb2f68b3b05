package image

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
)

// defaultDockerfiles are the paths Build tries, in order, when the request names no
// Dockerfile.
var defaultDockerfiles = []string{"Dockerfile", "docker/Dockerfile", "deployment/Dockerfile"}

// maxDockerfileBytes bounds how much of a Dockerfile Build reads to map steps to
// lines; no real Dockerfile comes near it.
const maxDockerfileBytes = 1 << 20

// findDockerfile returns the slash-separated path, relative to root, of the file the
// build should use: name when set, else the first of defaultDockerfiles that exists.
// root must already be free of symlinks. The result is where name leads after
// following symlinks, which must stay inside root: a Dockerfile that escapes the
// repository would let a pushed commit make the worker read any file it can.
func findDockerfile(root, name string) (string, error) {
	if name != "" {
		rel, err := resolveInside(root, name)
		if errors.Is(err, fs.ErrNotExist) {
			return "", pipeline.UserError(nil, "no Dockerfile at %s", name)
		}
		return rel, err
	}
	for _, candidate := range defaultDockerfiles {
		rel, err := resolveInside(root, candidate)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return rel, err
	}
	return "", pipeline.UserError(nil, "no Dockerfile found: looked for %s", strings.Join(defaultDockerfiles, ", "))
}

// resolveInside resolves name (relative to root) through any symlinks and returns
// the regular file it leads to, relative to root. Errors wrapping fs.ErrNotExist mean
// there is no such file; every other refusal is a pipeline.UserError.
func resolveInside(root, name string) (string, error) {
	clean, err := names.Dockerfile(name)
	if err != nil {
		return "", pipeline.UserError(nil, "%v", err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(clean)))
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", name, err)
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", pipeline.UserError(nil, "Dockerfile %s leads outside the repository", name)
	}
	info, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", name, err)
	}
	if !info.Mode().IsRegular() {
		return "", pipeline.UserError(nil, "Dockerfile %s is not a file", name)
	}
	return filepath.ToSlash(rel), nil
}

// readDockerfile returns the start of the file at path, up to maxDockerfileBytes.
func readDockerfile(path string) ([]byte, error) {
	// #nosec G304 -- path is what findDockerfile resolved and checked to stay
	// inside the checkout.
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open Dockerfile: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDockerfileBytes))
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	return b, nil
}

// instruction is one Dockerfile instruction: the 1-based line it starts on and its
// text with continuation lines joined.
type instruction struct {
	Line int
	Text string
}

var (
	directiveRE = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`)
	commentRE   = regexp.MustCompile(`^\s*#`)
)

// parseInstructions lists the instructions of a Dockerfile in order, the way the
// builder counts them in "Step N/M": parser directives, comments and blank lines are
// not instructions, and a line ending in the escape character (\ unless an escape
// directive says otherwise) continues on the next non-comment line.
func parseInstructions(src []byte) []instruction {
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	escape := `\`
	var (
		out        []instruction
		current    *instruction
		directives = true
	)
	for i, line := range lines {
		if directives {
			if m := directiveRE.FindStringSubmatch(line); m != nil {
				if strings.EqualFold(m[1], "escape") && (m[2] == "`" || m[2] == `\`) {
					escape = m[2]
				}
				continue
			}
			directives = false
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || commentRE.MatchString(line) {
			continue // inside a continuation too: the builder drops such lines
		}
		if current == nil {
			out = append(out, instruction{Line: i + 1})
			current = &out[len(out)-1]
		}
		body, continues := strings.CutSuffix(trimmed, escape)
		current.Text = strings.TrimSpace(current.Text + " " + strings.TrimSpace(body))
		if !continues {
			current = nil
		}
	}
	return out
}

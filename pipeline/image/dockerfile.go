package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
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

// instruction is one Dockerfile instruction: the 1-based line it starts on, its
// text as BuildKit's parser saw it (continuation lines joined), and the stage it
// belongs to, counted from 0 by FROM, with the stage's AS name if any.
type instruction struct {
	Line      int
	Text      string
	Stage     int
	StageName string
}

// parseInstructions lists the instructions of a Dockerfile in order with BuildKit's
// own parser, the one the builders run: parser directives, comments, blank lines
// and heredoc bodies are not instructions. A file the parser refuses yields what
// was read before the refusal; the build itself will then report the error.
func parseInstructions(src []byte) []instruction {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil
	}
	var out []instruction
	stage := -1
	for _, n := range res.AST.Children {
		in := instruction{Line: n.StartLine, Text: strings.Join(strings.Fields(n.Original), " ")}
		if strings.EqualFold(n.Value, "from") {
			stage++
			name := ""
			if next := n.Next; next != nil && next.Next != nil && strings.EqualFold(next.Next.Value, "as") && next.Next.Next != nil {
				name = strings.ToLower(next.Next.Next.Value)
			}
			in.StageName = name
		} else if stage >= 0 && len(out) > 0 {
			in.StageName = out[len(out)-1].StageName
		}
		in.Stage = max(stage, 0)
		out = append(out, in)
	}
	return out
}

package source

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/pandadeploy/panda/pipeline"
)

// SafePath resolves rel, a path inside the repository checked out at root (for
// example the Dockerfile named in .panda.yml), to an absolute path on disk with
// every symlink resolved. It refuses absolute paths, ".." parts, NUL bytes and
// symlinks that lead outside root: the repository's author controls both the
// config and the tree, and must not make Panda read the worker's own files
// (a Dockerfile symlinked to /etc/shadow would be sent to the Docker engine).
//
// Errors are permanent *pipeline.Error; a path that does not exist also
// matches fs.ErrNotExist, so callers can try the next candidate.
func SafePath(root, rel string) (string, error) {
	if rel == "" || strings.ContainsRune(rel, 0) || filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") {
		return "", pipeline.UserError(nil, "%q is not a path inside the repository", rel)
	}
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if part == ".." {
			return "", pipeline.UserError(nil, "%q is not a path inside the repository: it contains \"..\"", rel)
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolve checkout root: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(filepath.Join(realRoot, rel))
	if errors.Is(err, fs.ErrNotExist) {
		return "", pipeline.UserError(err, "no file at %s in the repository", rel)
	}
	if err != nil {
		return "", pipeline.UserError(err, "cannot resolve %s in the repository", rel)
	}
	if !within(realRoot, resolved) {
		return "", pipeline.UserError(nil, "%s is a symbolic link that points outside the repository", rel)
	}
	return resolved, nil
}

// within reports whether path is root or below it; both are clean and absolute.
func within(root, path string) bool {
	r, err := filepath.Rel(root, path)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}

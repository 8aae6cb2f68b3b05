package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/pandadeploy/panda/pipeline"
)

// errContextTooLarge is wrapped by the UserError a context over the limit yields.
var errContextTooLarge = errors.New("build context too large")

// contextWriter streams a build context as a tar, the way the docker CLI does:
// .dockerignore excludes paths, owners become root, symlinks are stored as symlinks
// (never followed, so a link to /etc cannot pull host files into the context; the
// engine resolves them inside the context), and sockets, devices and pipes are left
// out.
type contextWriter struct {
	root     string // symlink-free absolute directory
	maxBytes int64
	tw       *tar.Writer
	pm       *patternmatcher.PatternMatcher
	parents  map[string]patternmatcher.MatchInfo
	written  int64
	sizeOnly bool // count, write nothing
}

// writeContext writes the tar of root to w. dockerfile (slash-separated, relative to
// root) and .dockerignore are sent even when .dockerignore excludes them, because the
// engine needs the first and the CLI always sends the second. Regular file content
// beyond maxBytes in total stops it with a pipeline.UserError.
func writeContext(w io.Writer, root, dockerfile string, maxBytes int64) error {
	pm, err := ignoreMatcher(root, dockerfile)
	if err != nil {
		return err
	}
	cw := &contextWriter{
		root:     root,
		maxBytes: maxBytes,
		tw:       tar.NewWriter(w),
		pm:       pm,
		parents:  map[string]patternmatcher.MatchInfo{},
	}
	if err := filepath.WalkDir(root, cw.visit); err != nil {
		return err
	}
	return cw.tw.Close()
}

// checkContextSize walks root as writeContext would, reading no file, and fails
// the same way when the regular files that .dockerignore keeps exceed maxBytes:
// buildkitd reads the context itself through the session, so the limit is
// checked before the build starts.
func checkContextSize(root, dockerfile string, maxBytes int64) error {
	pm, err := ignoreMatcher(root, dockerfile)
	if err != nil {
		return err
	}
	cw := &contextWriter{root: root, maxBytes: maxBytes, pm: pm, parents: map[string]patternmatcher.MatchInfo{}, sizeOnly: true}
	return filepath.WalkDir(root, cw.visit)
}

// ignoreMatcher reads root/.dockerignore, if any, into a matcher.
func ignoreMatcher(root, dockerfile string) (*patternmatcher.PatternMatcher, error) {
	var patterns []string
	// OpenInRoot: a .dockerignore that is a symlink out of the checkout must
	// not make the worker read a file of its own (its lines could surface in
	// pattern errors).
	f, err := os.OpenInRoot(root, ".dockerignore")
	switch {
	case err == nil:
		defer f.Close()
		if patterns, err = ignorefile.ReadAll(f); err != nil {
			return nil, pipeline.UserError(err, "cannot read .dockerignore")
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		if fi, lerr := os.Lstat(filepath.Join(root, ".dockerignore")); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, pipeline.UserError(err, ".dockerignore leads outside the repository")
		}
		return nil, fmt.Errorf("open .dockerignore: %w", err)
	}
	patterns = append(patterns, "!.dockerignore", "!"+dockerfile)
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, pipeline.UserError(err, "invalid pattern in .dockerignore")
	}
	return pm, nil
}

func (cw *contextWriter) visit(path string, d fs.DirEntry, err error) error {
	if err != nil {
		return fmt.Errorf("walk build context: %w", err)
	}
	rel, err := filepath.Rel(cw.root, path)
	if err != nil || rel == "." {
		return err
	}
	excluded, info, err := cw.pm.MatchesUsingParentResults(rel, cw.parents[filepath.Dir(rel)])
	if err != nil {
		return fmt.Errorf("match %s against .dockerignore: %w", rel, err)
	}
	if d.IsDir() {
		cw.parents[rel] = info
	}
	if excluded {
		if d.IsDir() && !cw.mayInclude(rel) {
			return filepath.SkipDir
		}
		return nil
	}
	return cw.add(path, filepath.ToSlash(rel), d)
}

// mayInclude reports whether an exception pattern (!path) could bring back
// something under the excluded directory dir; only then is it worth walking.
func (cw *contextWriter) mayInclude(dir string) bool {
	prefix := dir + string(filepath.Separator)
	for _, p := range cw.pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+string(filepath.Separator), prefix) {
			return true
		}
	}
	return false
}

// add writes one entry: directories, regular files and symlinks; anything else is
// skipped as the engine could not use it.
func (cw *contextWriter) add(path, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	var link string
	switch mode := info.Mode(); {
	case mode.IsDir():
		name += "/"
	case mode&fs.ModeSymlink != 0:
		if link, err = os.Readlink(path); err != nil {
			return fmt.Errorf("read link %s: %w", name, err)
		}
	case mode.IsRegular():
		if cw.written += info.Size(); cw.written > cw.maxBytes {
			return pipeline.UserError(errContextTooLarge, "build context is larger than %s", formatSize(cw.maxBytes))
		}
	default:
		return nil
	}
	if cw.sizeOnly {
		return nil
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return fmt.Errorf("tar header for %s: %w", name, err)
	}
	hdr.Name = name
	// Owners of the worker's checkout mean nothing in the image; the CLI sends root too.
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := cw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	return cw.copyFile(path, name)
}

func (cw *contextWriter) copyFile(path, name string) error {
	// #nosec G304 -- path comes from WalkDir under the checkout and is a regular
	// file there (WalkDir does not follow symlinks; they are sent as links).
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	if _, err := io.Copy(cw.tw, f); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// formatSize renders a size limit for users: in MiB when it is a whole number of them.
func formatSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

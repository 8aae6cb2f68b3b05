package gittest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Repo is a bare repository on a Server.
type Repo struct {
	s     *Server
	dir   string
	Owner string
	Name  string
}

// File is one entry of a commit. The zero Mode is a regular 0644 file.
type File struct {
	Content string
	// Mode is 0o644 (the default), 0o755 for an executable file.
	Mode os.FileMode
	// SymlinkTarget, when set, makes the entry a symbolic link to it; Content is ignored.
	SymlinkTarget string
	// Submodule, when set, makes the entry a gitlink to that commit SHA (a submodule);
	// .gitmodules must be written by the test.
	Submodule string
	// Delete removes the path from the tree instead.
	Delete bool
}

// FullName returns "owner/name".
func (r *Repo) FullName() string { return r.Owner + "/" + r.Name }

// Dir returns the bare repository's directory on disk.
func (r *Repo) Dir() string { return r.dir }

// URL returns the repository's clone URL.
func (r *Repo) URL() string { return r.s.URL() + "/" + r.FullName() + ".git" }

// SetAllowAnySHA sets whether clients may fetch commits by SHA that no ref
// points at (GitHub allows it). With false, fetching anything but a ref tip by
// SHA is refused, which exercises a client's fallback path; the repository is
// then served with protocol v0 only, because v2 ignores these settings.
func (r *Repo) SetAllowAnySHA(allow bool) {
	r.s.t.Helper()
	r.s.setV0Only("/"+r.FullName()+".git/", !allow)
	v := strconv.FormatBool(allow)
	r.git(nil, "config", "uploadpack.allowReachableSHA1InWant", v)
	r.git(nil, "config", "uploadpack.allowAnySHA1InWant", v)
	r.git(nil, "config", "uploadpack.allowTipSHA1InWant", v)
}

// Commit adds a commit with files (path → content, regular files) on top of
// branch, creating the branch when missing, and returns the commit SHA. Paths
// not named keep their content from the parent commit.
func (r *Repo) Commit(branch string, files map[string]string, msg string) string {
	r.s.t.Helper()
	fs := make(map[string]File, len(files))
	for p, c := range files {
		fs[p] = File{Content: c}
	}
	return r.CommitFiles(branch, fs, msg)
}

// CommitFiles is Commit with control over modes, symlinks, submodules and deletions.
func (r *Repo) CommitFiles(branch string, files map[string]File, msg string) string {
	r.s.t.Helper()
	index := []string{"GIT_INDEX_FILE=" + filepath.Join(r.s.t.TempDir(), "index")}
	parent, hasParent := r.Head(branch)
	if hasParent {
		r.git(index, "read-tree", parent)
	} else {
		r.git(index, "read-tree", "--empty")
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		r.addEntry(index, p, files[p])
	}
	tree := r.git(index, "write-tree")
	args := []string{"commit-tree", tree, "-m", msg}
	if hasParent {
		args = append(args, "-p", parent)
	}
	sha := r.git(nil, args...)
	r.git(nil, "update-ref", "refs/heads/"+branch, sha)
	return sha
}

func (r *Repo) addEntry(index []string, path string, f File) {
	r.s.t.Helper()
	var mode, oid string
	switch {
	case f.Delete:
		// --index-info with mode 0 removes the entry; --force-remove would
		// need a work tree, which a bare repository has not.
		r.s.run(r.dir, index, "0 "+strings.Repeat("0", 40)+"\t"+path+"\n", "update-index", "--index-info")
		return
	case f.Submodule != "":
		mode, oid = "160000", f.Submodule
	case f.SymlinkTarget != "":
		mode, oid = "120000", r.blob(f.SymlinkTarget)
	case f.Mode&0o111 != 0:
		mode, oid = "100755", r.blob(f.Content)
	default:
		mode, oid = "100644", r.blob(f.Content)
	}
	r.git(index, "update-index", "--add", "--cacheinfo", fmt.Sprintf("%s,%s,%s", mode, oid, path))
}

func (r *Repo) blob(content string) string {
	return r.s.run(r.dir, nil, content, "hash-object", "-w", "--stdin")
}

// Head returns the commit branch points at, and false when it does not exist.
func (r *Repo) Head(branch string) (string, bool) {
	r.s.t.Helper()
	out, err := r.s.try(r.dir, nil, "", "rev-parse", "--verify", "-q", "refs/heads/"+branch)
	return out, err == nil
}

// SetBranch points branch at sha (for example to rewind it, as a force-push does).
func (r *Repo) SetBranch(branch, sha string) {
	r.s.t.Helper()
	r.git(nil, "update-ref", "refs/heads/"+branch, sha)
}

// DeleteBranch deletes branch.
func (r *Repo) DeleteBranch(branch string) {
	r.s.t.Helper()
	r.git(nil, "update-ref", "-d", "refs/heads/"+branch)
}

func (r *Repo) git(env []string, args ...string) string {
	r.s.t.Helper()
	return r.s.run(r.dir, env, "", args...)
}

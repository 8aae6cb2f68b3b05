// Package source is the clone stage: it fetches exactly one commit of a GitHub
// repository into a private temporary directory, over HTTPS, with the
// installation token carried as an HTTP header and nothing from a webhook
// payload able to become a git option.
package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
)

// Request says what to clone. Every field but TempRoot and GitPath may come
// from a webhook payload and is validated before anything runs.
type Request struct {
	// BaseURL is GITHUB_URL, for example "https://github.com": http or https,
	// without credentials.
	BaseURL string
	// Repo is "owner/name".
	Repo string
	// SHA is the full commit id to check out.
	SHA string
	// Branch, when set, is fetched instead if the server refuses to serve SHA
	// directly; SHA must then be in its history.
	Branch string
	// Token is the installation token. If empty, no Authorization header is sent
	// (public repositories).
	Token string
	// Submodules checks out submodules too (recursively, depth 1). Submodules on
	// other hosts are fetched without the token.
	Submodules bool
	// TempRoot is where the checkout's temporary directory is made. If empty,
	// os.TempDir().
	TempRoot string
	// GitPath is the git binary. If empty, "git" is looked up in PATH.
	GitPath string
}

// Checkout is a working tree of one commit. Its owner must call Close.
type Checkout struct {
	// Dir is the working tree, with HEAD detached at the requested SHA.
	Dir string
	// CommitTime is the commit's committer date: a time that is the same for
	// every build of the commit (an image's "created" label from it keeps
	// rebuilds reproducible and cacheable).
	CommitTime time.Time
	root       string
}

// Close removes the checkout from disk. It may be called more than once.
func (c *Checkout) Close() error {
	if err := os.RemoveAll(c.root); err != nil {
		return fmt.Errorf("remove checkout: %w", err)
	}
	return nil
}

// Clone fetches req.SHA of req.Repo and checks it out detached. On any error it
// removes everything it wrote. Errors are *pipeline.Error: permanent when the
// input is wrong (invalid values, unknown repository, commit or branch),
// transient otherwise (network, 5xx, authentication: an expired token is
// replaced by the retry). No error carries the token.
func Clone(ctx context.Context, req Request) (_ *Checkout, err error) {
	base, err := req.validate()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp(req.TempRoot, "panda-clone-")
	if err != nil {
		return nil, pipeline.TransientError(err, "clone %s: could not create a temporary directory", req.Repo)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(root)
		}
	}()
	c := &Checkout{Dir: filepath.Join(root, "src"), root: root}
	home := filepath.Join(root, "home")
	for _, d := range []string{c.Dir, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, pipeline.TransientError(err, "clone %s: could not create a temporary directory", req.Repo)
		}
	}
	bin := req.GitPath
	if bin == "" {
		bin = "git"
	}
	g := newGit(bin, c.Dir, home, base, req.Token)
	if err := checkout(ctx, g, req, base); err != nil {
		return nil, err
	}
	// %ct is the committer date in Unix seconds.
	out, err := g.run(ctx, "show", "-s", "--format=%ct", "HEAD")
	secs, perr := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil || perr != nil {
		return nil, pipeline.TransientError(err, "clone %s: could not read the commit date of %s", req.Repo, names.ShortSHA(req.SHA))
	}
	c.CommitTime = time.Unix(secs, 0).UTC()
	return c, nil
}

func (r Request) validate() (string, error) {
	base, err := checkBaseURL(r.BaseURL)
	if err == nil {
		err = names.Repo(r.Repo)
	}
	if err == nil {
		err = names.SHA(r.SHA)
	}
	if err == nil && r.Branch != "" {
		err = names.Branch(r.Branch)
	}
	if err != nil {
		// The reasons name only payload values (never the token), so users see them.
		return "", pipeline.UserError(nil, "cannot clone: %v", err)
	}
	return base, nil
}

// checkout runs the whole clone in g.dir.
func checkout(ctx context.Context, g *git, req Request, base string) error {
	steps := [][]string{
		{"init", "--quiet"},
		{"remote", "add", "--", "origin", base + "/" + req.Repo + ".git"},
	}
	for _, args := range steps {
		if _, err := g.run(ctx, args...); err != nil {
			return pipeline.TransientError(err, "clone %s: git %s failed", req.Repo, args[0])
		}
	}
	if err := fetch(ctx, g, req); err != nil {
		return err
	}
	// The SHA was validated as hex, so it cannot be read as an option. Neither
	// "--" (checkout reads paths after it) nor --end-of-options (git 2.39's
	// checkout takes it for a path) can mark it here.
	if _, err := g.run(ctx, "checkout", "--quiet", "--detach", req.SHA); err != nil {
		return pipeline.TransientError(err, "clone %s: check out %s failed", req.Repo, names.ShortSHA(req.SHA))
	}
	head, err := g.run(ctx, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil || head != req.SHA {
		return pipeline.TransientError(err, "clone %s: HEAD is %q after checking out %s", req.Repo, names.ShortSHA(head), names.ShortSHA(req.SHA))
	}
	if req.Submodules {
		_, err := g.run(ctx, "submodule", "update", "--init", "--recursive", "--depth", "1")
		if err != nil {
			return classify(err, req, "clone %s: submodules of %s", req.Repo, names.ShortSHA(req.SHA))
		}
	}
	return nil
}

// fetch brings req.SHA into the repository: by SHA directly (GitHub serves any
// reachable commit), else through req.Branch, deepening until the SHA appears.
func fetch(ctx context.Context, g *git, req Request) error {
	_, err := g.run(ctx, "fetch", "--quiet", "--no-tags", "--depth=1", "--", "origin", req.SHA)
	if err == nil {
		return nil
	}
	if kindOf(err) != refNotFound || req.Branch == "" {
		return classify(err, req, "commit %s is not in %s", names.ShortSHA(req.SHA), req.Repo)
	}
	refspec := "+refs/heads/" + req.Branch + ":refs/remotes/origin/" + req.Branch
	if _, err := g.run(ctx, "fetch", "--quiet", "--no-tags", "--depth=1", "--", "origin", refspec); err != nil {
		return classify(err, req, "branch %s is not in %s", req.Branch, req.Repo)
	}
	for _, n := range []string{"50", "500", "5000"} {
		if g.has(ctx, req.SHA) || !g.shallow(ctx) {
			break
		}
		if _, err := g.run(ctx, "fetch", "--quiet", "--no-tags", "--deepen="+n, "--", "origin", refspec); err != nil {
			return classify(err, req, "branch %s is not in %s", req.Branch, req.Repo)
		}
	}
	if !g.has(ctx, req.SHA) {
		return pipeline.UserError(nil, "commit %s is not in %s (searched branch %s)", names.ShortSHA(req.SHA), req.Repo, req.Branch)
	}
	return nil
}

func (g *git) has(ctx context.Context, sha string) bool {
	_, err := g.run(ctx, "cat-file", "-e", sha+"^{commit}")
	return err == nil
}

func (g *git) shallow(ctx context.Context) bool {
	out, err := g.run(ctx, "rev-parse", "--is-shallow-repository")
	return err != nil || out == "true"
}

// failure is what a failed fetch means.
type failure int

const (
	transient failure = iota
	refNotFound
	repoNotFound
	authFailed
)

// kindOf classifies a git failure by its (LC_ALL=C) message: git reports
// nothing more structured than its exit status 128.
func kindOf(err error) failure {
	var ge *gitError
	if !errors.As(err, &ge) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return transient
	}
	s := ge.Stderr
	switch {
	case containsAny(s, "not our ref", "unadvertised object", "couldn't find remote ref", "no such remote ref"):
		return refNotFound
	case containsAny(s, "could not read Username", "Authentication failed", "returned error: 401", "returned error: 403"):
		return authFailed
	case containsAny(s, "not found", "returned error: 404"):
		return repoNotFound
	}
	return transient
}

// classify turns a fetch failure into the pipeline error users see; notFound
// is the message for a missing commit or branch.
func classify(err error, req Request, notFound string, args ...any) error {
	switch kindOf(err) {
	case refNotFound:
		return pipeline.UserError(err, notFound, args...)
	case repoNotFound:
		return pipeline.UserError(err, "repository %s was not found, or Panda's installation cannot read it", req.Repo)
	case authFailed:
		return pipeline.TransientError(err, "clone %s: authentication failed", req.Repo)
	}
	return pipeline.TransientError(err, "clone %s: fetch failed", req.Repo)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Package gittest serves real git repositories over smart HTTP for tests, the way
// GitHub serves them to an App holding an installation token.
//
// Repositories are bare repositories under a t.TempDir, served by the real
// `git http-backend` through net/http/cgi, so clients speak the real protocol
// (v2 when they ask for it) against a real upload-pack.
package gittest

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cgi" // #nosec G504 -- httpoxy was fixed in Go 1.6.3; this serves git http-backend to tests
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Request is one HTTP request the server received. It never holds the
// Authorization header's value, only whether it carried the right token.
type Request struct {
	Method     string
	Path       string
	Query      string
	Authorized bool
}

// Server is a git smart-HTTP server requiring an installation token.
// Its methods are safe for concurrent use.
type Server struct {
	t        testing.TB
	root     string // GIT_PROJECT_ROOT
	home     string // empty HOME for every git the server runs
	git      string
	want     string // the exact Authorization header value that is accepted
	check    func(token, repo string) bool
	srv      *httptest.Server
	mu       sync.Mutex
	reqs     []Request
	failCode int
	v0Only   map[string]bool // path prefixes "/owner/name.git/" served without protocol v2
	stall    chan struct{}   // while not nil, requests wait for it to close
	stalled  int             // requests that waited on a stall
	waiting  int             // requests waiting on a stall now
}

// NewServer starts a server that accepts only
// "Authorization: Basic base64(x-access-token:<token>)", the header git sends for
// GitHub's installation tokens, and answers 401 with "WWW-Authenticate: Basic"
// otherwise. It is closed when the test ends. It fails the test if git is missing.
func NewServer(t testing.TB, token string) *Server {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("gittest: git not found: %v", err)
	}
	s := &Server{
		t:      t,
		root:   t.TempDir(),
		home:   t.TempDir(),
		git:    git,
		want:   BasicAuth(token),
		v0Only: make(map[string]bool),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	return s
}

// NewServerWithTokens is NewServer for tokens issued elsewhere (by the GitHub
// API test server): check reports whether token may read repo ("owner/name").
func NewServerWithTokens(t testing.TB, check func(token, repo string) bool) *Server {
	t.Helper()
	s := NewServer(t, "")
	s.check = check
	return s
}

func (s *Server) authorized(r *http.Request) bool {
	if s.check == nil {
		return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(s.want)) == 1
	}
	user, token, ok := r.BasicAuth()
	if !ok || user != "x-access-token" {
		return false
	}
	owner, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	name, _, _ := strings.Cut(rest, "/")
	return s.check(token, owner+"/"+strings.TrimSuffix(name, ".git"))
}

// BasicAuth returns the Authorization header value git sends for token when
// told to authenticate as GitHub's "x-access-token" user.
func BasicAuth(token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
}

// URL returns the base URL (GITHUB_URL) without a trailing slash; a repository
// is at URL()+"/owner/name.git".
func (s *Server) URL() string { return s.srv.URL }

// Requests returns a copy of the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// FailWith makes every following request answer with status code (for example
// 500 or 503) without reaching git, until FailWith(0) is called.
func (s *Server) FailWith(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode = code
}

// Stall makes every following request wait, as a slow or hung server would,
// until release is called or the client goes away (a killed git closes its
// connection). It lets a test stop a clone deterministically mid-way.
func (s *Server) Stall() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.stall = ch
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			if s.stall == ch {
				s.stall = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
	// Before the server closes (cleanups run last in, first out): Close waits
	// for the requests held here.
	s.t.Cleanup(release)
	return release
}

// Stalled returns how many requests have waited on a stall so far, and how
// many of them are waiting still (their clients still connected).
func (s *Server) Stalled() (total, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stalled, s.waiting
}

// wait holds r while a stall is on. It reports false when the client went
// away meanwhile.
func (s *Server) wait(r *http.Request) bool {
	s.mu.Lock()
	ch := s.stall
	if ch != nil {
		s.stalled++
		s.waiting++
	}
	s.mu.Unlock()
	if ch == nil {
		return true
	}
	defer func() {
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
	}()
	select {
	case <-ch:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r) {
		return
	}
	// Compare in constant time, as a real server would: the test server should
	// not be the example of a timing oracle.
	ok := s.authorized(r)
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Authorized: ok})
	fail := s.failCode
	v0 := s.v0Only[repoPrefix(r.URL.Path)]
	s.mu.Unlock()
	if fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if v0 {
		// Protocol v2's upload-pack serves any object it has, whatever
		// uploadpack.allow*SHA1InWant say; only v0 honours them.
		r.Header.Del("Git-Protocol")
	}
	h := &cgi.Handler{
		Path: s.git,
		Args: []string{"http-backend"},
		Dir:  s.root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + s.home,
			"XDG_CONFIG_HOME=" + s.home,
		},
		InheritEnv: []string{"PATH"},
		Stderr:     testWriter{s.t},
	}
	h.ServeHTTP(w, r)
}

// repoPrefix returns "/owner/name.git/" for a request path inside a repository.
func repoPrefix(path string) string {
	i := strings.Index(path, ".git/")
	if i < 0 {
		return ""
	}
	return path[:i+len(".git/")]
}

func (s *Server) setV0Only(prefix string, v0 bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v0Only[prefix] = v0
}

// testWriter forwards http-backend's stderr to the test log, where a failing
// test shows it.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("git http-backend: %s", bytes.TrimSpace(p))
	return len(p), nil
}

// CreateRepo creates an empty bare repository served at /{owner}/{name}.git.
// Like GitHub it lets clients fetch any reachable commit by its SHA.
func (s *Server) CreateRepo(owner, name string) *Repo {
	s.t.Helper()
	dir := filepath.Join(s.root, owner, name+".git")
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		s.t.Fatalf("gittest: %v", err)
	}
	r := &Repo{s: s, dir: dir, Owner: owner, Name: name}
	s.run(s.root, nil, "", "init", "--bare", "--quiet", "--initial-branch=main", dir)
	r.SetAllowAnySHA(true)
	return r
}

// run runs git with the server's isolated environment and returns its trimmed
// stdout, failing the test on error.
func (s *Server) run(dir string, env []string, stdin string, args ...string) string {
	s.t.Helper()
	out, err := s.try(dir, env, stdin, args...)
	if err != nil {
		s.t.Fatalf("gittest: %v", err)
	}
	return out
}

// try is run returning the error instead of failing the test.
func (s *Server) try(dir string, env []string, stdin string, args ...string) (string, error) {
	cmd := exec.Command(s.git, args...) // #nosec G204 -- git with the test's own arguments, no shell
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.home,
		"XDG_CONFIG_HOME=" + s.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Panda Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Panda Test", "GIT_COMMITTER_EMAIL=test@example.com",
	}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

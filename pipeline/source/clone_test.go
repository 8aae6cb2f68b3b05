package source_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/gittest"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/source"
)

const token = "ghs_s3cretInstallationToken"

// fixture is a git server with one repository, a git wrapper that logs every
// argv it is run with, and a private temp root for checkouts.
type fixture struct {
	srv     *gittest.Server
	repo    *gittest.Repo
	git     string // wrapper script
	argvLog string
	tmp     string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	realGit, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is required: %v", err)
	}
	dir := t.TempDir()
	f := &fixture{
		srv:     gittest.NewServer(t, token),
		git:     filepath.Join(dir, "git-wrapper"),
		argvLog: filepath.Join(dir, "argv.log"),
		tmp:     t.TempDir(),
	}
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + f.argvLog + "'\nexec '" + realGit + "' \"$@\"\n"
	if err := os.WriteFile(f.git, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f.repo = f.srv.CreateRepo("octo", "app")
	return f
}

func (f *fixture) request(sha string) source.Request {
	return source.Request{
		BaseURL:  f.srv.URL(),
		Repo:     f.repo.FullName(),
		SHA:      sha,
		Branch:   "main",
		Token:    token,
		TempRoot: f.tmp,
		GitPath:  f.git,
	}
}

// assertEmpty fails unless dir has no entries: Clone and Close leave nothing behind.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("%s: entries %v, err %v; want empty", dir, entries, err)
	}
}

// assertNoSecret fails if s contains the token or the header derived from it.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	header := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	if strings.Contains(s, token) || strings.Contains(s, header) {
		t.Errorf("%s carries the token: %q", what, s)
	}
}

func TestCloneChecksOutExactSHAAfterBranchMoved(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := f.repo.CommitFiles("main", map[string]gittest.File{
		"Dockerfile": {Content: "FROM scratch\n"},
		"run.sh":     {Content: "#!/bin/sh\n", Mode: 0o755},
	}, "first")
	f.repo.Commit("main", map[string]string{"Dockerfile": "FROM scratch\nLABEL new=1\n"}, "second")

	co, err := source.Clone(context.Background(), f.request(old))
	if err != nil {
		t.Fatalf("Clone: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(co.Dir, "Dockerfile")); err != nil || string(b) != "FROM scratch\n" {
		t.Errorf("Dockerfile = %q, %v; want the old commit's", b, err)
	}
	if fi, err := os.Stat(filepath.Join(co.Dir, "run.sh")); err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("run.sh lost its executable bit: %v, %v", fi, err)
	}
	head, _ := exec.Command("git", "-C", co.Dir, "rev-parse", "HEAD").Output()
	if got := strings.TrimSpace(string(head)); got != old {
		t.Errorf("HEAD = %s, want %s", got, old)
	}
	config, err := os.ReadFile(filepath.Join(co.Dir, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, ".git/config", string(config))
	argv, err := os.ReadFile(f.argvLog)
	if err != nil || !strings.Contains(string(argv), "fetch") {
		t.Fatalf("argv log = %q, %v; want git commands", argv, err)
	}
	assertNoSecret(t, "argv", string(argv))
	for _, r := range f.srv.Requests() {
		if !r.Authorized {
			t.Errorf("request %s %s was not authorized", r.Method, r.Path)
		}
	}
	if err := co.Close(); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, f.tmp)
}

func TestCloneFallsBackToBranchWhenSHAIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := f.repo.Commit("main", map[string]string{"v": "1"}, "one")
	f.repo.Commit("main", map[string]string{"v": "2"}, "two")
	f.repo.Commit("main", map[string]string{"v": "3"}, "three")
	f.repo.SetAllowAnySHA(false)

	co, err := source.Clone(context.Background(), f.request(old))
	if err != nil {
		t.Fatalf("Clone: %v", err)
	}
	defer co.Close()
	if b, err := os.ReadFile(filepath.Join(co.Dir, "v")); err != nil || string(b) != "1" {
		t.Errorf("v = %q, %v; want 1", b, err)
	}
}

func TestCloneFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sha := f.repo.Commit("main", map[string]string{"a": "1"}, "one")
	other := f.srv.CreateRepo("octo", "strict")
	other.Commit("main", map[string]string{"a": "1"}, "one")
	other.SetAllowAnySHA(false)
	missing := strings.Repeat("ab", 20)

	tests := []struct {
		name          string
		edit          func(*source.Request)
		wantPermanent bool
		wantMsg       string
	}{
		{name: "wrong_token", edit: func(r *source.Request) { r.Token = "ghs_wrong" + token },
			wantMsg: "clone octo/app: authentication failed"},
		{name: "no_token", edit: func(r *source.Request) { r.Token = "" },
			wantMsg: "clone octo/app: authentication failed"},
		{name: "unknown_sha_without_branch", edit: func(r *source.Request) { r.SHA, r.Branch = missing, "" },
			wantPermanent: true, wantMsg: "commit abababa is not in octo/app"},
		{name: "unknown_sha_in_branch", edit: func(r *source.Request) { r.SHA = missing; r.Repo = "octo/strict" },
			wantPermanent: true, wantMsg: "commit abababa is not in octo/strict (searched branch main)"},
		{name: "unknown_branch", edit: func(r *source.Request) { r.SHA, r.Repo, r.Branch = missing, "octo/strict", "nope" },
			wantPermanent: true, wantMsg: "branch nope is not in octo/strict"},
		{name: "unknown_repo", edit: func(r *source.Request) { r.Repo = "octo/nope" },
			wantPermanent: true, wantMsg: "repository octo/nope was not found, or Panda's installation cannot read it"},
		{name: "unreachable_server", edit: func(r *source.Request) { r.BaseURL = "http://127.0.0.1:1" },
			wantMsg: "clone octo/app: fetch failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := f.request(sha)
			req.TempRoot = t.TempDir()
			tt.edit(&req)
			co, err := source.Clone(context.Background(), req)
			if err == nil {
				co.Close()
				t.Fatal("Clone succeeded, want an error")
			}
			if got := pipeline.UserMessage(err, ""); got != tt.wantMsg {
				t.Errorf("message = %q, want %q", got, tt.wantMsg)
			}
			if pipeline.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", !tt.wantPermanent, tt.wantPermanent, err)
			}
			assertNoSecret(t, "error", err.Error())
			assertEmpty(t, req.TempRoot)
		})
	}
}

func TestCloneServerErrorIsTransient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sha := f.repo.Commit("main", map[string]string{"a": "1"}, "one")
	f.srv.FailWith(503)
	_, err := source.Clone(context.Background(), f.request(sha))
	if err == nil || pipeline.IsPermanent(err) {
		t.Fatalf("Clone = %v, want a transient error", err)
	}
	assertEmpty(t, f.tmp)
}

func TestCloneCanceled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sha := f.repo.Commit("main", map[string]string{"a": "1"}, "one")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := source.Clone(ctx, f.request(sha))
	if !errors.Is(err, context.Canceled) || pipeline.IsPermanent(err) {
		t.Fatalf("Clone = %v, want transient context.Canceled", err)
	}
	assertEmpty(t, f.tmp)
}

// TestCloneCanceledMidFetch: a cancel while git waits on the server kills
// git and its transport helper at once: the server sees its client go, and
// Clone returns long before git's own timeouts.
func TestCloneCanceledMidFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sha := f.repo.Commit("main", map[string]string{"a": "1"}, "one")
	release := f.srv.Stall()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := source.Clone(ctx, f.request(sha))
		done <- err
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, waiting := f.srv.Stalled(); waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("git never reached the server")
		}
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Clone = %v, want context.Canceled", err)
		}
	case <-time.After(4 * time.Second): // under cmd.WaitDelay: nothing held the pipes
		t.Fatal("Clone did not return after the cancel")
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, waiting := f.srv.Stalled(); waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a git process is still connected to the server after the cancel")
		}
	}
	t.Logf("clone stopped %s after the cancel", time.Since(start))
	assertEmpty(t, f.tmp)
}

func TestCloneRefusesHostileInputBeforeRunningGit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sha := f.repo.Commit("main", map[string]string{"a": "1"}, "one")
	pwned := filepath.Join(t.TempDir(), "pwned")

	tests := []struct {
		name string
		edit func(*source.Request)
	}{
		{name: "branch_option", edit: func(r *source.Request) { r.Branch = "--upload-pack=touch " + pwned }},
		{name: "branch_dotdot", edit: func(r *source.Request) { r.Branch = "a/../b" }},
		{name: "repo_dotdot", edit: func(r *source.Request) { r.Repo = "a/../b" }},
		{name: "repo_option", edit: func(r *source.Request) { r.Repo = "-x/app" }},
		{name: "repo_name_option", edit: func(r *source.Request) { r.Repo = "octo/--upload-pack=touch" }},
		{name: "sha_option", edit: func(r *source.Request) { r.SHA = "-x" }},
		{name: "sha_short", edit: func(r *source.Request) { r.SHA = sha[:7] }},
		{name: "sha_upper", edit: func(r *source.Request) { r.SHA = strings.ToUpper(sha) }},
		{name: "url_userinfo", edit: func(r *source.Request) { r.BaseURL = "http://user:pw@127.0.0.1" }},
		{name: "url_ext", edit: func(r *source.Request) { r.BaseURL = "ext::sh -c touch% " + pwned }},
		{name: "url_file", edit: func(r *source.Request) { r.BaseURL = "file:///etc" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := f.request(sha)
			tt.edit(&req)
			_, err := source.Clone(context.Background(), req)
			if !pipeline.IsPermanent(err) {
				t.Fatalf("Clone = %v, want a permanent error", err)
			}
			assertNoSecret(t, "error", err.Error())
		})
	}
	if _, err := os.Stat(f.argvLog); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("git ran for hostile input (argv log: %v)", err)
	}
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was created", pwned)
	}
	assertEmpty(t, f.tmp)
}

func TestCloneSubmodules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lib := f.srv.CreateRepo("octo", "lib")
	libSHA := lib.Commit("main", map[string]string{"lib.txt": "library"}, "lib")
	sha := f.repo.CommitFiles("main", map[string]gittest.File{
		".gitmodules": {Content: "[submodule \"lib\"]\n\tpath = lib\n\turl = ../lib.git\n"},
		"lib":         {Submodule: libSHA},
	}, "with submodule")

	tests := []struct {
		name       string
		submodules bool
		wantLib    bool
	}{
		{name: "off_by_default", submodules: false, wantLib: false},
		{name: "on", submodules: true, wantLib: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := f.request(sha)
			req.Submodules = tt.submodules
			co, err := source.Clone(context.Background(), req)
			if err != nil {
				t.Fatalf("Clone: %v", err)
			}
			defer co.Close()
			b, err := os.ReadFile(filepath.Join(co.Dir, "lib", "lib.txt"))
			if got := err == nil && string(b) == "library"; got != tt.wantLib {
				t.Errorf("lib/lib.txt = %q, %v; want present=%v", b, err, tt.wantLib)
			}
		})
	}
}

func TestCloneSubmoduleOnOtherHostGetsNoToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A second server that accepts the same token: if the header leaked to it,
	// the clone of the submodule would succeed.
	elsewhere := gittest.NewServer(t, token)
	lib := elsewhere.CreateRepo("evil", "lib")
	libSHA := lib.Commit("main", map[string]string{"x": "1"}, "lib")
	sha := f.repo.CommitFiles("main", map[string]gittest.File{
		".gitmodules": {Content: "[submodule \"lib\"]\n\tpath = lib\n\turl = " + lib.URL() + "\n"},
		"lib":         {Submodule: libSHA},
	}, "with foreign submodule")
	req := f.request(sha)
	req.Submodules = true
	co, err := source.Clone(context.Background(), req)
	if err == nil {
		co.Close()
		t.Fatal("Clone succeeded: the token reached another host")
	}
	for _, r := range elsewhere.Requests() {
		if r.Authorized {
			t.Errorf("other host received the token on %s", r.Path)
		}
	}
	if len(elsewhere.Requests()) == 0 {
		t.Error("the submodule was never requested; the test proves nothing")
	}
	assertEmpty(t, f.tmp)
}

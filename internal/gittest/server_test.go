package gittest_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/internal/gittest"
)

// gitIn runs git in dir with an isolated config and returns combined output.
func gitIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestServerRequiresInstallationToken(t *testing.T) {
	t.Parallel()
	s := gittest.NewServer(t, "s3cret")
	s.CreateRepo("octo", "app").Commit("main", map[string]string{"a": "1"}, "one")

	tests := []struct {
		name   string
		header string
		want   int
	}{
		{name: "no_header", header: "", want: http.StatusUnauthorized},
		{name: "wrong_token", header: gittest.BasicAuth("nope"), want: http.StatusUnauthorized},
		{name: "right_token", header: gittest.BasicAuth("s3cret"), want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL()+"/octo/app.git/info/refs?service=git-upload-pack", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q, want Basic", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[0].Authorized || reqs[1].Authorized || !reqs[2].Authorized {
		t.Fatalf("requests = %+v", reqs)
	}
	if reqs[2].Path != "/octo/app.git/info/refs" || reqs[2].Query != "service=git-upload-pack" {
		t.Errorf("request = %+v", reqs[2])
	}
}

func TestCommitFilesAreCloned(t *testing.T) {
	t.Parallel()
	s := gittest.NewServer(t, "tok")
	r := s.CreateRepo("octo", "app")
	first := r.Commit("main", map[string]string{"README": "hi", "gone": "x"}, "one")
	second := r.CommitFiles("main", map[string]gittest.File{
		"run.sh": {Content: "#!/bin/sh\n", Mode: 0o755},
		"link":   {SymlinkTarget: "README"},
		"gone":   {Delete: true},
	}, "two")
	if head, ok := r.Head("main"); !ok || head != second || first == second {
		t.Fatalf("Head = %q, %v; want %q", head, ok, second)
	}
	dir := t.TempDir()
	out, err := gitIn(t, dir, "-c", "http.extraHeader=Authorization: "+gittest.BasicAuth("tok"),
		"clone", "--quiet", r.URL(), "w")
	if err != nil {
		t.Fatalf("clone: %v: %s", err, out)
	}
	w := filepath.Join(dir, "w")
	if b, err := os.ReadFile(filepath.Join(w, "README")); err != nil || string(b) != "hi" {
		t.Errorf("README = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(w, "run.sh")); err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("run.sh not executable: %v %v", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(w, "link")); err != nil || target != "README" {
		t.Errorf("link -> %q, %v", target, err)
	}
	if _, err := os.Stat(filepath.Join(w, "gone")); !os.IsNotExist(err) {
		t.Errorf("gone still present: %v", err)
	}
}

func TestSetAllowAnySHA(t *testing.T) {
	t.Parallel()
	s := gittest.NewServer(t, "tok")
	r := s.CreateRepo("octo", "app")
	old := r.Commit("main", map[string]string{"a": "1"}, "one")
	r.Commit("main", map[string]string{"a": "2"}, "two")
	header := "http.extraHeader=Authorization: " + gittest.BasicAuth("tok")

	dir := t.TempDir()
	if out, err := gitIn(t, dir, "init", "-q", "."); err != nil {
		t.Fatal(out)
	}
	if out, err := gitIn(t, dir, "-c", header, "fetch", "--depth", "1", r.URL(), old); err != nil {
		t.Fatalf("fetch of a reachable SHA refused: %s", out)
	}
	r.SetAllowAnySHA(false)
	out, err := gitIn(t, dir, "-c", header, "fetch", "--depth", "1", r.URL(), old)
	if err == nil || !strings.Contains(out, "unadvertised object") {
		t.Fatalf("fetch by SHA = %v, %s; want refused", err, out)
	}
}

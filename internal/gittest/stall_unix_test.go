//go:build unix

package gittest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/gittest"
)

// TestStall: a clone waits while the stall is on, and the server sees it go
// when the client is killed; after the release clones go through.
func TestStall(t *testing.T) {
	t.Parallel()
	s := gittest.NewServer(t, "s3cret")
	s.CreateRepo("octo", "app").Commit("main", map[string]string{"a": "1"}, "one")
	release := s.Stall()
	dir := t.TempDir()
	cmd := exec.Command("git", "-c", "http.extraHeader=Authorization: "+gittest.BasicAuth("s3cret"), "clone", s.URL()+"/octo/app.git", filepath.Join(dir, "held"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}
	// git's transport runs as its child: kill the clone's process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitWaiting(t, s, 1)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	waitWaiting(t, s, 0)

	release()
	if out, err := gitIn(t, dir, "-c", "http.extraHeader=Authorization: "+gittest.BasicAuth("s3cret"), "clone", s.URL()+"/octo/app.git", "after"); err != nil {
		t.Fatalf("clone after the release: %v\n%s", err, out)
	}
	if total, _ := s.Stalled(); total != 1 {
		t.Errorf("%d requests stalled, want 1", total)
	}
}

func waitWaiting(t *testing.T, s *gittest.Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, waiting := s.Stalled(); waiting == n {
			return
		}
	}
	t.Fatalf("never %d requests waiting", n)
}

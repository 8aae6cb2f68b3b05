package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
)

// TestConfigGitHubWillNotServe pushes a .panda.yml over 1 MB, which GitHub's
// contents API refuses (403 too_large): the user sees a failed check run that
// says so, once, and nothing is deployed or retried.
func TestConfigGitHubWillNotServe(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	huge := h.pandaYML("") + "#" + strings.Repeat("x", 1_000_000) + "\n"
	sha := h.commit(map[string]string{"Dockerfile": dockerfile}, huge)
	h.push(sha, "huge config")
	var run *githubtest.CheckRun
	for deadline := time.Now().Add(30 * time.Second); run == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, r := range h.gh.CheckRuns(testRepo) {
			if r.HeadSHA == sha {
				run = &r
			}
		}
	}
	if run == nil || run.Conclusion != "failure" || !strings.Contains(run.Output.Title, ".panda.yml is invalid") ||
		!strings.Contains(run.Output.Summary, "is larger than 64 KiB (over 1 MB") {
		t.Fatalf("check run for a .panda.yml GitHub will not serve: %+v", run)
	}
	time.Sleep(time.Second) // room for a retry, which must not come
	reads := 0
	for _, r := range h.gh.Requests() {
		if strings.HasSuffix(r.Path, "/contents/.panda.yml") {
			reads++
			if r.Status != 403 {
				t.Errorf("contents answered %d, want GitHub's 403", r.Status)
			}
		}
	}
	if reads != 1 {
		t.Errorf(".panda.yml read %d times, want once: a refusal is not retried", reads)
	}
	if list, _ := h.store.List(context.Background(), store.Filter{SHA: sha}); len(list) != 0 {
		t.Fatal("a deployment was made from a .panda.yml GitHub would not serve")
	}
}

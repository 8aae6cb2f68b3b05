package jobs_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/stacktest"
	"github.com/pandadeploy/panda/store"
)

// writeBudget is what an uneventful deployment (a push that succeeds, no
// waiting) may cost in GitHub writes. GitHub's secondary rate limits count
// writes (content-creating requests are limited most), so each one a
// deployment makes is one a busy installation may be refused.
const writeBudget = 16

// TestWriteBudget counts, from the GitHub server's history, the writes one
// uneventful deployment makes.
func TestWriteBudget(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, stacktest.WorkerOptions{GitHubPace: true})
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi\n"}, h.pandaYML(""))
	before := len(h.gh.Requests())
	h.push(sha, "ship it")
	dep := h.waitFinal(sha, 3*time.Minute)
	if dep.Status != store.StatusSucceeded {
		t.Fatalf("status %s (%s: %s), want SUCCEEDED", dep.Status, dep.ErrorStage, dep.Error)
	}
	h.settled(dep)
	writes := map[string]int{}
	total := 0
	for _, r := range h.gh.Requests()[before:] {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || strings.HasSuffix(r.Path, "/access_tokens") {
			continue // reads, and the App's own token requests (not repository content)
		}
		writes[r.Method+" "+shape(r.Path)]++
		total++
	}
	var lines []string
	for k, n := range writes {
		lines = append(lines, fmt.Sprintf("%3d %s", n, k))
	}
	sort.Strings(lines)
	t.Logf("%d GitHub writes for one uneventful deployment:\n%s", total, strings.Join(lines, "\n"))
	if total > writeBudget {
		t.Errorf("%d GitHub writes, over the budget of %d", total, writeBudget)
	}
}

// shape replaces the ids in a path by {id}, to group requests by route.
func shape(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

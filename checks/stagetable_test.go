package checks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/store"
)

// TestStageTableShowsOneStageRunning: while a deployment runs, its summary's
// table shows the stage under way as running and the stages after it as
// queued, not all of them running.
func TestStageTableShowsOneStageRunning(t *testing.T) {
	d := &store.Deployment{ID: "dep_0123456789", Status: store.StatusRunning, Repo: "o/r", SHA: strings.Repeat("a", 40),
		Environment: "production", StageDurations: map[string]time.Duration{"clone": time.Second}}
	got := checks.SummaryFor(d, "clone")
	for _, want := range []string{"| clone | ✅ done |", "| build | ⏳ running |", "| push | ⏸️ queued |", "| deploy | ⏸️ queued |"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}

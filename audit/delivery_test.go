package audit_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/delivery"
	"github.com/pandadeploy/panda/store"
)

// TestFinishedEntryCarriesCommitTime: the deployment.finished entry carries
// the commit time the build recorded, and reads back as written.
func TestFinishedEntryCarriesCommitTime(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t, 0)
	committed := time.Date(2026, 3, 1, 9, 0, 0, 0, time.FixedZone("KST", 9*3600))
	dep := &store.Deployment{ID: "dep_AAAAAAAAAA", Repo: "octo/app", Environment: "production", SHA: "c1",
		Trigger: "push", Status: store.StatusSucceeded, CommitTime: committed}
	if _, err := l.Append(t.Context(), audit.ForDeployment(dep, audit.DeploymentFinished, "SUCCEEDED")); err != nil {
		t.Fatal(err)
	}
	got, _, err := l.List(t.Context(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].CommitTime.Equal(committed) {
		t.Fatalf("entries = %+v, want one with commit time %v", got, committed)
	}
}

// TestDeliveries reads a scripted history, an entry of the version before
// commit times among it, into deployments with their acceptance and finish.
func TestDeliveries(t *testing.T) {
	t.Parallel()
	l, rdb := newLog(t, 0)
	ctx := t.Context()
	base := time.Now().UTC().Truncate(time.Second).Add(-10 * 24 * time.Hour)
	day := func(n int) time.Time { return base.Add(time.Duration(n) * 24 * time.Hour) }
	add := func(e audit.Entry) {
		t.Helper()
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(id, action, outcome string, at time.Time) audit.Entry {
		return audit.Entry{Time: at, Actor: "octocat", Action: action, Outcome: outcome, Trigger: "push",
			Repo: "octo/app", Environment: "production", Commit: "c-" + id, DeploymentID: id}
	}
	add(entry("dep_0000000001", audit.DeploymentAccepted, "accepted", day(0)))
	fin := entry("dep_0000000001", audit.DeploymentFinished, "SUCCEEDED", day(1))
	fin.CommitTime = day(0).Add(-time.Hour)
	add(fin)
	// An entry as the version before commit times wrote it: no commitTime.
	old := `{"id":"","time":"` + day(2).Format(time.RFC3339) + `","actor":"octocat","action":"deployment.finished",` +
		`"outcome":"FAILED","trigger":"push","repo":"octo/app","environment":"production","commit":"c-old","deploymentId":"dep_0000000002"}`
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "panda:{audit}:log", Values: []any{"e", old}}).Err(); err != nil {
		t.Fatal(err)
	}
	add(entry("dep_0000000003", audit.DeploymentAccepted, "accepted", day(3)))
	other := entry("dep_0000000004", audit.DeploymentFinished, "SUCCEEDED", day(3))
	other.Repo = "octo/lib"
	add(other)
	add(entry("dep_0000000005", audit.DeploymentFinished, "SUCCEEDED", day(9)))  // after until
	add(entry("dep_0000000006", audit.DeploymentFinished, "SUCCEEDED", day(-1))) // before since

	got, err := l.Deliveries(ctx, "octo/app", "production", day(0), day(8))
	if err != nil {
		t.Fatal(err)
	}
	want := []delivery.Deployment{
		{ID: "dep_0000000001", Repo: "octo/app", Environment: "production", Trigger: "push", Commit: "c-dep_0000000001",
			Status: "SUCCEEDED", CommitTime: day(0).Add(-time.Hour), AcceptedAt: day(0), FinishedAt: day(1)},
		{ID: "dep_0000000002", Repo: "octo/app", Environment: "production", Trigger: "push", Commit: "c-old",
			Status: "FAILED", FinishedAt: day(2)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Deliveries:\n got %+v\nwant %+v", got, want)
	}
}

package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/metrics"
	"github.com/pandadeploy/panda/store"
)

// TestDeliveryCollector scrapes the delivery metrics of a scripted audit log
// on a real Redis: what a Prometheus server would read.
func TestDeliveryCollector(t *testing.T) {
	t.Parallel()
	rdb, err := store.Open(t.Context(), testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(rdb, 0)
	now := time.Now().UTC().Truncate(time.Second)
	clock := now
	add := func(id, repo, outcome string, finished time.Time, lead time.Duration) {
		t.Helper()
		e := audit.Entry{Time: finished, Actor: "octocat", Action: audit.DeploymentFinished, Outcome: outcome, Trigger: "push",
			Repo: repo, Environment: "production", Commit: "c-" + id, DeploymentID: id}
		if lead > 0 {
			e.CommitTime = finished.Add(-lead)
		}
		if _, err := log.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	add("dep_0000000001", "octo/app", "SUCCEEDED", now.Add(-10*time.Hour), 2*time.Hour)
	add("dep_0000000002", "octo/app", "FAILED", now.Add(-8*time.Hour), 0)
	add("dep_0000000003", "octo/app", "SUCCEEDED", now.Add(-5*time.Hour), 4*time.Hour)
	add("dep_0000000004", "octo/old", "SUCCEEDED", now.Add(-40*24*time.Hour), time.Hour) // outside the window: no labels

	c := &metrics.DeliveryCollector{Source: log, Window: 10 * 24 * time.Hour, Now: func() time.Time { return clock }}
	want := `
# HELP panda_delivery_change_failure_ratio Change failure rate: failed changes over changes (0 to 1).
# TYPE panda_delivery_change_failure_ratio gauge
panda_delivery_change_failure_ratio{environment="production",repo="octo/app"} 0.3333333333333333
# HELP panda_delivery_deployments_per_day Deployment frequency: successful changes per day of the window.
# TYPE panda_delivery_deployments_per_day gauge
panda_delivery_deployments_per_day{environment="production",repo="octo/app"} 0.2
# HELP panda_delivery_lead_time_seconds Lead time for changes: commit time to successful deployment, over the window.
# TYPE panda_delivery_lead_time_seconds summary
panda_delivery_lead_time_seconds{environment="production",repo="octo/app",quantile="0.5"} 10800
panda_delivery_lead_time_seconds_sum{environment="production",repo="octo/app"} 21600
panda_delivery_lead_time_seconds_count{environment="production",repo="octo/app"} 2
# HELP panda_delivery_time_to_restore_seconds Time to restore: failed change to the next successful deployment, over the window.
# TYPE panda_delivery_time_to_restore_seconds summary
panda_delivery_time_to_restore_seconds{environment="production",repo="octo/app",quantile="0.5"} 10800
panda_delivery_time_to_restore_seconds_sum{environment="production",repo="octo/app"} 10800
panda_delivery_time_to_restore_seconds_count{environment="production",repo="octo/app"} 1
# HELP panda_delivery_up 1 if the audit log could be read at the last computation.
# TYPE panda_delivery_up gauge
panda_delivery_up 1
`
	names := []string{"panda_delivery_change_failure_ratio", "panda_delivery_deployments_per_day",
		"panda_delivery_lead_time_seconds", "panda_delivery_time_to_restore_seconds", "panda_delivery_up"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// A deployment finished since is seen only once the cache has expired.
	add("dep_0000000005", "octo/lib", "SUCCEEDED", now.Add(-time.Hour), time.Hour)
	if n := testutil.CollectAndCount(c, "panda_delivery_deployments"); n != 1 {
		t.Errorf("within the cache: %d series of panda_delivery_deployments, want 1 (octo/app)", n)
	}
	clock = clock.Add(time.Minute)
	if n := testutil.CollectAndCount(c, "panda_delivery_deployments"); n != 2 {
		t.Errorf("after the cache: %d series of panda_delivery_deployments, want 2 (octo/app, octo/lib)", n)
	}

	// Redis gone: the scrape still answers, and says the metrics are down.
	rdb.Close()
	clock = clock.Add(time.Minute)
	down := "# HELP panda_delivery_up 1 if the audit log could be read at the last computation.\n# TYPE panda_delivery_up gauge\npanda_delivery_up 0\n"
	if err := testutil.CollectAndCompare(c, strings.NewReader(down), "panda_delivery_up", "panda_delivery_deployments"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

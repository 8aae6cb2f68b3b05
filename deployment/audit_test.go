package deployment_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// noChecks is a check-run side that has nothing to say: this test is about
// the audit log, and the service never lets check-run failures matter.
type noChecks struct{}

func (noChecks) Queue(context.Context, *store.Deployment) (map[string]int64, error) { return nil, nil }
func (noChecks) Finish(context.Context, *store.Deployment, string, checks.Result) error {
	return nil
}
func (noChecks) Skip(context.Context, *store.Deployment, ...string) error { return nil }

// TestAuditAcceptAndFinish: accepting a deployment and finishing it are in
// the audit log once each, even when the same intent is accepted twice or
// the deployment is finished twice; the final event has the seed's details.
func TestAuditAcceptAndFinish(t *testing.T) {
	t.Parallel()
	rdb, err := store.Open(t.Context(), testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	log := audit.New(rdb, 0)
	svc := &deployment.Service{Store: store.New(rdb), Queue: asynq.NewClientFromRedisClient(rdb), Checks: noChecks{},
		Logger: slog.New(slog.DiscardHandler), Audit: log}
	ctx := t.Context()
	mk := func() *store.Deployment {
		return &store.Deployment{Repo: "octo/app", SHA: strings.Repeat("a", 40), Environment: "production",
			Trigger: "push", Actor: "octocat", Target: store.Target{TaskFamily: "app-task"}}
	}
	dep, err := svc.Accept(ctx, "push:t1:production", mk())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Accept(ctx, "push:t1:production", mk()); err != nil { // a retried task
		t.Fatal(err)
	}
	for range 2 { // the second finds it final and does nothing
		if err := svc.Finish(ctx, dep, store.StatusFailed, pipeline.StageBuild, "Build failed: no Dockerfile", nil); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := log.List(ctx, audit.Query{Repo: "octo/app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Action != audit.DeploymentAccepted || got[1].Action != audit.DeploymentFinished ||
		got[1].Outcome != "FAILED" || got[1].Reason != "Build failed: no Dockerfile" || got[0].Actor != "octocat" ||
		got[0].DeploymentID != dep.ID || got[1].TaskDefinition != "app-task" || got[0].Trigger != "push" {
		t.Errorf("audit log: %+v", got)
	}
	// The final event carries the seed's details (SEED-API.md "Live progress").
	evs, err := svc.Store.Events(ctx, dep.ID, "", 100, 0)
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %v %v", evs, err)
	}
	last := evs[len(evs)-1]
	var details map[string]any
	if err := json.Unmarshal(last.Details, &details); err != nil {
		t.Fatalf("final event details %s: %v", last.Details, err)
	}
	if _, ok := details["totalDuration"].(float64); !ok || last.Type != store.EventError {
		t.Errorf("final event %+v lacks totalDuration (milliseconds)", last)
	}
	for _, k := range []string{"blueServiceUrl", "greenServiceUrl"} {
		if _, ok := details[k]; !ok {
			t.Errorf("final event lacks %s: %s", k, last.Details)
		}
	}
}

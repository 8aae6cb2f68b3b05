package jobs_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// reportOnly is a queue that holds back a deployment's stages (so the test
// alone decides how it ends) and passes report tasks to the worker.
type reportOnly struct{ q *asynq.Client }

func (r reportOnly) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	if t.Type() != tasks.TypeReport {
		return &asynq.TaskInfo{}, nil
	}
	return r.q.EnqueueContext(ctx, t, opts...)
}

// accepted records a deployment with its four check runs and its GitHub
// Deployment, as a push would, without running its stages.
func (h *harness) accepted(t *testing.T) (*deployment.Service, *store.Deployment) {
	t.Helper()
	factory, err := githubapp.New(githubapp.Config{AppID: h.gh.AppID(), PrivateKey: h.gh.PrivateKeyPEM(), APIURL: h.gh.URL()})
	if err != nil {
		t.Fatal(err)
	}
	life := &deployment.Service{
		Store: h.store, Queue: reportOnly{h.queue}, GitHub: factory, Logger: h.deployer.Logger, PublicURL: "http://panda.test",
		Checks: &checks.Reporter{Clients: func(ctx context.Context, id int64) (checks.API, error) {
			c, err := factory.Client(ctx, id)
			if err != nil {
				return nil, err
			}
			return c.Checks, nil
		}},
	}
	sha := h.commit(map[string]string{"Dockerfile": "FROM scratch\n"}, h.pandaYML(""))
	dep, err := life.Accept(context.Background(), "test:"+t.Name(), &store.Deployment{
		Repo: testRepo, InstallationID: testInst, SHA: sha, Branch: "main", Environment: "production",
		Trigger: deployment.TriggerPush, Actor: "octocat",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dep.CheckRuns) != 5 || dep.GitHubDeploymentID == 0 { // four stages and the controls run
		t.Fatalf("accepted deployment has check runs %v and GitHub Deployment %d", dep.CheckRuns, dep.GitHubDeploymentID)
	}
	return life, dep
}

// toldGitHub waits until every check run of dep is completed and its GitHub
// Deployment has a final status, as someone looking at GitHub would see.
func (h *harness) toldGitHub(t *testing.T, dep *store.Deployment, wantConclusion, wantState string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		concluded, state := 0, ""
		for _, run := range h.gh.CheckRuns(testRepo) {
			if run.ExternalID == dep.ID && run.Status == "completed" && run.Name != "panda" { // the stage runs; the controls run is completed from its creation
				concluded++
				if run.Name == "panda/"+string(pipeline.StageClone) && run.Conclusion != wantConclusion {
					t.Fatalf("panda/clone concluded %q, want %q", run.Conclusion, wantConclusion)
				}
			}
		}
		for _, gd := range h.gh.Deployments(testRepo) {
			if gd.ID == dep.GitHubDeploymentID && len(gd.Statuses) > 0 {
				state = gd.Statuses[len(gd.Statuses)-1].State
			}
		}
		rec, err := h.store.Get(context.Background(), dep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if concluded == 4 && state == wantState && len(rec.Outbox) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d of 4 check runs concluded, GitHub Deployment %q (want %q), outbox %v", within, concluded, state, wantState, rec.Outbox)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFinalUpdatesSurviveGitHubRefusing: GitHub answers 502 to the writes at
// the end of a deployment, and then a secondary rate limit; the deployment is
// final at once, and GitHub is told everything once it takes writes again.
func TestFinalUpdatesSurviveGitHubRefusing(t *testing.T) {
	h := newHarness(t, time.Minute)
	life, dep := h.accepted(t)

	h.gh.FailNext(12, githubtest.Fault{Status: http.StatusBadGateway})
	h.gh.FailNext(1, githubtest.SecondaryRateLimit(time.Second))
	if err := life.Finish(context.Background(), dep, store.StatusFailed, pipeline.StageClone, "clone failed: no such commit", nil); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	rec, err := h.store.Get(context.Background(), dep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != store.StatusFailed || !h.hasFinalEvent(dep.ID) {
		t.Fatalf("deployment is %s (final event %v) while GitHub refuses writes; want FAILED at once", rec.Status, h.hasFinalEvent(dep.ID))
	}
	if len(rec.Outbox) == 0 {
		t.Fatal("GitHub refused every write, yet the outbox is empty: the final updates were dropped")
	}
	h.toldGitHub(t, dep, checks.ConclusionFailure, "failure", time.Minute)
}

// TestFinalUpdatesSurviveACrash: the worker died right after writing the final
// status (the outbox written with it), before telling GitHub anything. The
// task it was running is run again, as Asynq does with a dead worker's task,
// and GitHub is told.
func TestFinalUpdatesSurviveACrash(t *testing.T) {
	h := newHarness(t, time.Minute)
	_, dep := h.accepted(t)

	// What Finish's transaction writes, and nothing after it.
	_, err := h.store.Update(context.Background(), dep.ID, func(x *store.Deployment) error {
		x.Status, x.EndedAt, x.StartedAt = store.StatusCanceled, time.Now(), time.Now()
		x.Error, x.ErrorStage = "Cancelled by octocat", string(pipeline.StageClone)
		x.Outbox = []string{store.ReportChecks, store.ReportGitHubDeployment}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.queue.Enqueue(tasks.NewBuildTask(dep.ID, time.Minute)); err != nil {
		t.Fatal(err)
	}
	h.toldGitHub(t, dep, checks.ConclusionCancelled, "inactive", time.Minute)
	if !h.hasFinalEvent(dep.ID) {
		t.Error("the redone task did not write the missing final event")
	}
}

package jobs_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/gittest"
	"github.com/pandadeploy/panda/internal/registrytest"
	"github.com/pandadeploy/panda/internal/stacktest"
	"github.com/pandadeploy/panda/jobs"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// harness is one whole Panda worker in process, on the world of
// internal/stacktest: real Redis, a real Docker engine, a real registry
// standing in for ECR, real git over HTTP, and the GitHub and AWS test servers
// behind the real clients.
type harness struct {
	t        *testing.T
	w        *stacktest.World
	rdb      redis.UniversalClient
	store    *store.Store
	queue    *asynq.Client
	gh       *githubtest.Server
	git      *gittest.Server
	repo     *gittest.Repo
	aws      *awstest.Server
	reg      *registrytest.Registry
	docker   *client.Client
	smARN    string
	workDir  string
	deployer *jobs.Deployer
	intake   *jobs.GitHubHandler
	logs     *stacktest.Logs
	pushes   int
	// conns holds the stored connections the worker reads (sealed with a
	// fresh key), as the API would have stored them.
	conns *connections.Store
}

const (
	testRepo = stacktest.Repo
	testInst = stacktest.Installation
)

func newHarness(t *testing.T, deployTimeout time.Duration, awsOpts ...awstest.Option) *harness {
	t.Helper()
	return newHarnessWith(t, stacktest.WorkerOptions{DeployTimeout: deployTimeout}, awsOpts...)
}

// newHarnessWith is newHarness with the worker's options given.
func newHarnessWith(t *testing.T, wo stacktest.WorkerOptions, awsOpts ...awstest.Option) *harness {
	t.Helper()
	w := stacktest.New(t, stacktest.Options{AWSOptions: awsOpts})
	h := &harness{t: t, w: w, rdb: w.Redis(), store: w.Store(), queue: asynq.NewClientFromRedisClient(w.Redis()),
		gh: w.GitHub, git: w.Git, repo: w.Source, aws: w.AWS, reg: w.Registry, docker: w.Docker, smARN: w.StateMachineARN,
		workDir: t.TempDir(), logs: w.Logs, conns: w.Connections()}
	t.Cleanup(func() { h.queue.Close() })
	wo.WorkDir = h.workDir
	srv := w.StartWorker(wo)
	// Panda logs a refused check-run update and goes on; GitHub would have
	// refused it all the same, so every test fails on one.
	t.Cleanup(func() {
		for _, v := range h.gh.Violations() {
			t.Errorf("GitHub would refuse %s %s: %s", v.Method, v.Path, v.Rule)
		}
	})
	h.deployer, h.intake = srv.Deployer, srv.Intake
	return h
}

// pandaYML is the shared .panda.yml with extra appended.
func (h *harness) pandaYML(extra string) string { return h.w.PandaYML(extra) }

// commit pushes files to main with .panda.yml served by the contents API.
func (h *harness) commit(files map[string]string, yml string) string {
	h.t.Helper()
	return h.w.Commit("main", files, yml)
}

// push enqueues the task the webhook intake makes of a push to main.
func (h *harness) push(sha, message string) {
	h.t.Helper()
	h.pushes++
	task, err := tasks.NewPushTask(tasks.PushPayload{
		Delivery:       tasks.Delivery{HookID: "1", ID: fmt.Sprintf("%s-%s-%d", strings.ReplaceAll(h.t.Name(), "/", "-"), sha[:7], h.pushes)},
		InstallationID: testInst, Repo: testRepo, Branch: "main", SHA: sha, Message: message, Sender: "octocat",
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.queue.Enqueue(task); err != nil {
		h.t.Fatal(err)
	}
}

// waitFinal waits for the deployment of sha to be done (see stacktest.World.WaitFinal).
func (h *harness) waitFinal(sha string, within time.Duration) *store.Deployment {
	h.t.Helper()
	return h.w.WaitFinal(sha, within)
}

func (h *harness) events(id string) []store.StreamEvent {
	h.t.Helper()
	return h.w.Events(id)
}

// workDirEmpty asserts no checkout was left behind. The final status is
// written while the stage's checkout still exists, so allow the handler a
// moment to return and remove it.
func (h *harness) workDirEmpty() {
	h.t.Helper()
	var entries []os.DirEntry
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if entries, err = os.ReadDir(h.workDir); err != nil {
			h.t.Fatal(err)
		}
		if len(entries) == 0 {
			return
		}
	}
	h.t.Errorf("work dir not cleaned: %d entries left", len(entries))
}

// waitFor waits until the deployment of sha satisfies ok.
func (h *harness) waitFor(sha string, ok func(*store.Deployment) bool) *store.Deployment {
	h.t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		list, err := h.store.List(context.Background(), store.Filter{Repo: testRepo, SHA: sha})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(list) == 1 && ok(list[0]) {
			return list[0]
		}
	}
	h.t.Fatalf("deployment of %s never reached the expected state", sha)
	return nil
}

// waitArchived waits until the task was refused for good (archived by Asynq).
func (h *harness) waitArchived(id string) {
	h.t.Helper()
	insp := asynq.NewInspectorFromRedisClient(h.rdb)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if info, err := insp.GetTaskInfo(tasks.QueueWebhooks, id); err == nil && info.State == asynq.TaskStateArchived {
			return
		}
	}
	h.t.Fatalf("task %s was not refused", id)
}

// parse reads ev back into its kind; every event Panda writes must have one.
func parse(t testing.TB, ev store.StreamEvent) events.Kind {
	t.Helper()
	k, err := events.Parse(ev.Event)
	if err != nil {
		t.Errorf("event %s %q: %v", ev.ID, ev.Message, err)
	}
	return k
}

// hasFinalEvent reports whether the deployment's stream holds its done or error event.
func (h *harness) hasFinalEvent(id string) bool { return h.w.HasFinalEvent(id) }

package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/gittest"
	"github.com/pandadeploy/panda/internal/registrytest"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/jobs"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// harness is one whole Panda worker in process, against real Redis, a real
// Docker engine, a real registry standing in for ECR, real git over HTTP, and
// the GitHub and AWS test servers behind the real clients.
type harness struct {
	t        *testing.T
	rdb      redis.UniversalClient
	store    *store.Store
	queue    *asynq.Client
	gh       *githubtest.Server
	git      *gittest.Server
	aws      *awstest.Server
	reg      *registrytest.Registry
	docker   *client.Client
	repo     *gittest.Repo
	smARN    string
	workDir  string
	deployer *jobs.Deployer
	intake   *jobs.GitHubHandler
	logs     *syncBuilder
	pushes   int
}

const (
	testRepo = "acme/app"
	testInst = int64(42)
)

func pandaYML(smARN string, extra string) string {
	return `environments:
  production:
    branch: main
    region: us-east-1
    state_machine_arn: ` + smARN + `
    cluster: prod
    service: web
    task_family: web
    container_port: 8080
    desired_count: 2
` + extra
}

// syncBuilder collects the worker's log lines from concurrent handlers.
type syncBuilder struct {
	mu  sync.Mutex
	out strings.Builder
}

func (b *syncBuilder) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

func (b *syncBuilder) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

func newHarness(t *testing.T, deployTimeout time.Duration, awsOpts ...awstest.Option) *harness {
	t.Helper()
	h := &harness{t: t, docker: dockertest.Client(t), workDir: t.TempDir()}
	rdb, err := store.Open(context.Background(), testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	h.rdb, h.store, h.queue = rdb, store.New(rdb), asynq.NewClientFromRedisClient(rdb)

	h.aws = awstest.NewServer(t, append([]awstest.Option{awstest.WithStep(20 * time.Millisecond)}, awsOpts...)...)
	user, pass := h.aws.RegistryAuth()
	h.reg = registrytest.New(t, registrytest.Options{Username: user, Password: pass})
	h.aws.SetRegistryURL(h.reg.URL())
	h.smARN = h.aws.StateMachineARN("panda-bluegreen")
	h.aws.AddStateMachine(h.smARN, awstest.BlueGreenDefinition())

	h.gh = githubtest.NewServer(t)
	h.gh.AddInstallation(testInst, testRepo)
	// Panda logs a refused check-run update and goes on; GitHub would have
	// refused it all the same, so every test fails on one.
	t.Cleanup(func() {
		for _, v := range h.gh.Violations() {
			t.Errorf("GitHub would refuse %s %s: %s", v.Method, v.Path, v.Rule)
		}
	})
	h.git = gittest.NewServerWithTokens(t, h.gh.TokenCanRead)
	h.repo = h.git.CreateRepo("acme", "app")
	factory, err := githubapp.New(githubapp.Config{AppID: h.gh.AppID(), PrivateKey: h.gh.PrivateKeyPEM(), APIURL: h.gh.URL()})
	if err != nil {
		t.Fatal(err)
	}

	logs := &syncBuilder{}
	logger := slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := config.Worker{
		Common:        config.Common{PublicURL: "http://panda.test", GitHub: config.GitHub{URL: h.git.URL()}},
		Concurrency:   4,
		WorkDir:       h.workDir,
		DeployTimeout: deployTimeout,
	}
	// The worker as cmd/worker wires it, with test servers behind it and its
	// waits shortened.
	srv := jobs.NewServer(cfg, jobs.Deps{
		Redis:   rdb,
		GitHub:  factory,
		Builder: &image.Builder{Engine: h.docker},
		AWS:     &jobs.AWSProvider{Base: h.aws.Config(), Engine: h.docker},
		Logger:  logger,
		Pace: jobs.Pace{
			WaitInterval:    200 * time.Millisecond,
			LogInterval:     50 * time.Millisecond,
			RetryDelay:      func(int, error, *asynq.Task) time.Duration { return 100 * time.Millisecond },
			DelayedCheck:    100 * time.Millisecond,
			ShutdownTimeout: 5 * time.Second,
		},
	})
	h.deployer, h.intake = srv.Deployer, srv.Intake
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	h.logs = logs
	return h
}

// testWriter shows the worker's log in verbose test output only.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// commit pushes files to main with .panda.yml served by the contents API.
func (h *harness) commit(files map[string]string, yml string) string {
	h.t.Helper()
	if yml != "" {
		files[".panda.yml"] = yml
	}
	sha := h.repo.Commit("main", files, "change")
	if yml != "" {
		h.gh.SetFile(testRepo, sha, ".panda.yml", []byte(yml))
	}
	return sha
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

// waitFinal waits for the deployment of sha to reach a final status.
func (h *harness) waitFinal(sha string, within time.Duration) *store.Deployment {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		list, err := h.store.List(context.Background(), store.Filter{Repo: testRepo, SHA: sha})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(list) > 1 {
			h.t.Fatalf("%d deployments for one push", len(list))
		}
		// The final status is written just before the stream's final event:
		// wait for both, as a user watching either would. (A task that read
		// the deployment just before it ended may still append a line after
		// the final event; SSE clients stop at the final event.)
		// And for GitHub to have been told the end (the outbox drained), as a
		// person looking at the pull request would.
		if len(list) == 1 && list[0].Status.Final() && h.hasFinalEvent(list[0].ID) && len(list[0].Outbox) == 0 {
			return list[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	list, _ := h.store.List(context.Background(), store.Filter{Repo: testRepo, SHA: sha})
	var state strings.Builder
	for _, d := range list {
		fmt.Fprintf(&state, "\n  %s %s (%s %s) image=%q execution=%q", d.ID, d.Status, d.ErrorStage, d.Error, d.ImageURI, d.ExecutionARN)
		evs := h.events(d.ID)
		for _, ev := range evs[max(0, len(evs)-8):] {
			fmt.Fprintf(&state, "\n    %s %s %s", ev.Type, ev.Stage, ev.Message)
		}
	}
	h.t.Fatalf("deployment of %s did not finish within %v:%s", sha, within, state.String())
	return nil
}

func (h *harness) events(id string) []store.StreamEvent {
	h.t.Helper()
	evs, err := h.store.Events(context.Background(), id, "", 100000, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
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

// hasFinalEvent reports whether the deployment's stream holds its done or error event.
func (h *harness) hasFinalEvent(id string) bool {
	for _, ev := range h.events(id) {
		if ev.Final() {
			return true
		}
	}
	return false
}

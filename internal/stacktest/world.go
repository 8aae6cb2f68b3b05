// Package stacktest builds the one world every test of a whole Panda runs in:
// a real Redis, the Docker engine, a real OCI registry standing in for ECR,
// real git over HTTP, the GitHub and AWS test servers behind the real
// clients, a capture of Panda's log, and the fixtures those tests share (the
// repository acme/app, its installation, the Blue/Green state machine, the
// .panda.yml template).
//
// The jobs tests start an in-process worker on it (StartWorker, through
// jobs.NewServer as cmd/worker does), the e2e tests start the built binaries
// with Env, and the pipeline benchmark uses its engine, git server and
// registry. Services are required: without one a test fails under CI=true and
// skips otherwise (see internal/testenv).
package stacktest

import (
	"bytes"
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
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/gittest"
	"github.com/pandadeploy/panda/internal/registrytest"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/store"
)

// The repository every world holds, and the App installation that can read it.
const (
	Repo         = "acme/app"
	Installation = int64(42)
)

// Options change the world. The zero value is the common world.
type Options struct {
	// AWSOptions change the AWS test server (its clock, the evaluating
	// walker, ECS scenarios); the world's own step comes first.
	AWSOptions []awstest.Option
	// RedisURL is the Redis Panda uses. If empty, a private server from
	// testenv.Redis.
	RedisURL string
	// AWSStep is the time between two history events of an execution. If
	// zero, 20ms.
	AWSStep time.Duration
	// NoEngine leaves the Docker engine of the environment alone: the test
	// brings its own (Docker is then nil).
	NoEngine bool
	// GitToken, when set, is the one token the git server accepts, instead of
	// the installation tokens the GitHub test server issued (for code that
	// clones without the App, like the pipeline benchmark).
	GitToken string
	// GitFront and RegistryFront, when set, put something between Panda and
	// the git server or the registry (a fault test's gate): given the
	// service's URL they return the URL Panda is to use.
	GitFront, RegistryFront func(url string) string
}

// World is one test's world. Its fields are set by New and never change.
type World struct {
	t testing.TB

	// RedisURL is Redis as a redis:// URL.
	RedisURL string
	// Docker is the engine Panda builds on (nil with Options.NoEngine).
	Docker   *client.Client
	GitHub   *githubtest.Server
	Git      *gittest.Server
	AWS      *awstest.Server
	Registry *registrytest.Registry
	// Source is the git repository of Repo.
	Source *gittest.Repo
	// StateMachineARN is the Blue/Green state machine every environment of
	// PandaYML rolls out with.
	StateMachineARN string
	// GitURL is git's base URL as Panda reaches it (through GitFront).
	GitURL string
	// Logs receives Panda's log: the Logger's, or the binaries' output.
	Logs *Logs

	once  sync.Once
	rdb   redis.UniversalClient
	store *store.Store

	connsOnce sync.Once
	conns     *connections.Store
}

// New builds a world; everything in it ends with the test.
func New(t testing.TB, o Options) *World {
	t.Helper()
	w := &World{t: t, RedisURL: o.RedisURL, Logs: &Logs{}}
	if !o.NoEngine {
		w.Docker = dockertest.Client(t) // the worker builds on the engine: require it
	}
	if w.RedisURL == "" {
		w.RedisURL = testenv.Redis(t)
	}
	step := o.AWSStep
	if step == 0 {
		step = 20 * time.Millisecond
	}
	w.AWS = awstest.NewServer(t, append([]awstest.Option{awstest.WithStep(step)}, o.AWSOptions...)...)
	user, pass := w.AWS.RegistryAuth()
	w.Registry = registrytest.New(t, registrytest.Options{Username: user, Password: pass})
	w.AWS.SetRegistryURL(front(o.RegistryFront, w.Registry.URL()))
	w.StateMachineARN = w.AWS.StateMachineARN("panda-bluegreen")
	w.AWS.AddStateMachine(w.StateMachineARN, awstest.BlueGreenDefinition())

	w.GitHub = githubtest.NewServer(t)
	w.GitHub.AddInstallation(Installation, Repo)
	if o.GitToken != "" {
		w.Git = gittest.NewServer(t, o.GitToken)
	} else {
		w.Git = gittest.NewServerWithTokens(t, w.GitHub.TokenCanRead)
	}
	owner, name, _ := strings.Cut(Repo, "/")
	w.Source = w.Git.CreateRepo(owner, name)
	w.GitURL = front(o.GitFront, w.Git.URL())
	return w
}

func front(f func(string) string, url string) string {
	if f == nil {
		return url
	}
	return f(url)
}

// EnvironmentYML is one environment of a .panda.yml, deployed by pushes to
// branch, on the world's state machine and region, service web on port 8080
// with two tasks.
func (w *World) EnvironmentYML(name, branch, cluster, taskFamily string) string {
	return `  ` + name + `:
    branch: ` + branch + `
    region: ` + w.AWS.Region() + `
    state_machine_arn: ` + w.StateMachineARN + `
    cluster: ` + cluster + `
    service: web
    task_family: ` + taskFamily + `
    container_port: 8080
    desired_count: 2
`
}

// PandaYML is the .panda.yml the tests share: production, deployed by pushes
// to main, cluster prod, task family web; extra is appended (more fields of
// production, indented four spaces, or more environments, indented two).
func (w *World) PandaYML(extra string) string {
	return "environments:\n" + w.EnvironmentYML("production", "main", "prod", "web") + extra
}

// Commit adds a commit of files to branch and returns its SHA. With yml it
// holds .panda.yml too, which the contents API then serves at that commit, as
// GitHub would.
func (w *World) Commit(branch string, files map[string]string, yml string) string {
	w.t.Helper()
	if yml != "" {
		files[".panda.yml"] = yml
	}
	sha := w.Source.Commit(branch, files, "change")
	if yml != "" {
		w.GitHub.SetFile(Repo, sha, ".panda.yml", []byte(yml))
	}
	return sha
}

// Redis is a client of the world's Redis as Panda opens it; closed when the
// test ends.
func (w *World) Redis() redis.UniversalClient {
	w.t.Helper()
	w.once.Do(func() {
		rdb, err := store.Open(context.Background(), w.RedisURL)
		if err != nil {
			w.t.Fatal(err)
		}
		w.t.Cleanup(func() { _ = rdb.Close() })
		w.rdb, w.store = rdb, store.New(rdb)
	})
	return w.rdb
}

// Store is Panda's store on the world's Redis, for reading what Panda wrote.
func (w *World) Store() *store.Store {
	w.Redis()
	return w.store
}

// Logger is a JSON logger into Logs (and into the test's output with -v).
func (w *World) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.MultiWriter(w.Logs, verboseWriter{w.t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// verboseWriter shows a log in verbose test output only.
type verboseWriter struct{ t testing.TB }

func (v verboseWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		v.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// Logs collects log lines written concurrently (handlers, child processes).
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Tail is the last n bytes logged.
func (l *Logs) Tail(n int) string {
	s := l.String()
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Binaries say how Panda's binaries are to run in the world.
type Binaries struct {
	// Addr is the app's listen address (also its public URL's host).
	Addr string
	// APIToken and WebhookSecret are the app's secrets.
	APIToken, WebhookSecret string
	// WorkDir is the worker's directory for checkouts.
	WorkDir string
	// DockerHost is the worker's DOCKER_HOST; "" leaves it to the environment.
	DockerHost string
}

// Env is the environment Panda's binaries run with against the world, as an
// operator would configure them: PANDA_* settings, the App's id and key,
// GITHUB_URL (git, through GitFront) and GITHUB_API_URL, and the standard AWS
// SDK variables pointing at the AWS test server.
func (w *World) Env(b Binaries) []string {
	w.t.Helper()
	creds := w.AWS.Credentials()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + w.t.TempDir(),
		"PANDA_ADDR=" + b.Addr,
		"PANDA_REDIS_URL=" + w.RedisURL,
		"PANDA_PUBLIC_URL=http://" + b.Addr,
		"PANDA_API_TOKEN=" + b.APIToken,
		"PANDA_WORK_DIR=" + b.WorkDir,
		"PANDA_LOG_LEVEL=debug",
		"PANDA_WORKER_METRICS_ADDR=127.0.0.1:0",
		"PANDA_BUILD_NETWORK=none", // RUN steps on BuildKit need it: dockerd here runs with --bridge=none
		"GITHUB_WEBHOOK_SECRET=" + b.WebhookSecret,
		"GITHUB_APP_ID=" + fmt.Sprint(w.GitHub.AppID()),
		"GITHUB_APP_PRIVATE_KEY=" + string(w.GitHub.PrivateKeyPEM()),
		"GITHUB_URL=" + w.GitURL,
		"GITHUB_API_URL=" + w.GitHub.URL(),
		"AWS_ENDPOINT_URL=" + w.AWS.URL,
		"AWS_REGION=" + w.AWS.Region(),
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if b.DockerHost != "" {
		env = append(env, "DOCKER_HOST="+b.DockerHost)
	}
	return env
}

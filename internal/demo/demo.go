// Package demo runs a deployment anyone can watch on a fresh machine, with no
// GitHub or AWS account: it starts the GitHub and AWS test servers, an OCI
// registry and a git server holding a small sample repository, installs the
// App there, runs Panda's real app and worker binaries against them, pushes a
// commit (a signed push webhook, as GitHub sends it), opens a pull request
// with a `/deploy preview` comment, and prints two links: the deployment's
// live page on the app, and the GitHub test server's page of the repository
// (check runs, the pull request's conversation, the Deployments).
//
// scripts/dev.sh demo builds and runs it (internal/demo/cmd/demo); the e2e
// test TestDemo runs the same program. Everything listens on 127.0.0.1 only.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"time"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/gittest"
	"github.com/pandadeploy/panda/internal/registrytest"
	"github.com/pandadeploy/panda/internal/testenv"
)

const (
	// Repo is the sample repository the demo deploys.
	Repo         = "acme/hello"
	installation = int64(4242)
	// author is the person who opens the pull request and comments /deploy.
	author = "octocat"
)

// Options configure Run. AppBinary, WorkerBinary, Out and Logs are required.
type Options struct {
	// AppBinary and WorkerBinary are Panda's built binaries (cmd/app, cmd/worker).
	AppBinary, WorkerBinary string
	// Out receives what a person reads: progress and the two links, each on a
	// line of its own starting with LiveLabel or GitHubLabel.
	Out io.Writer
	// Logs receives the binaries' and the servers' logs, each line prefixed
	// with its source. It is written from several goroutines, a line per Write.
	Logs io.Writer
	// AppAddr is where the app listens. If empty, a free port on 127.0.0.1.
	AppAddr string
	// Step is the time between two events of a Step Functions execution. If
	// zero, 300 ms: slow enough to watch the stages go by.
	Step time.Duration
	// PATH and DockerHost are passed to the binaries (DOCKER_HOST: empty for
	// the default socket). PATH must find git.
	PATH, DockerHost string
}

// The labels that start the lines with the two links.
const (
	LiveLabel   = "Deployment (live page): "
	GitHubLabel = "GitHub (check runs, pull request, Deployments): "
)

// demo is one run's world.
type demo struct {
	opts    Options
	s       *session
	secret  string
	token   string
	appAddr string

	redis string
	aws   *awstest.Server
	reg   *registrytest.Registry
	gh    *githubtest.Server
	git   *gittest.Server
	repo  *gittest.Repo
	sm    string
	base  string
	procs []*process
}

// Run runs the demo until ctx is done (Ctrl-C in the command), then stops the
// binaries and the servers and removes what it made. It returns an error if
// a service the demo needs is missing (Redis, the Docker engine,
// busybox-static, git), if the binaries do not start, or if one of them exits
// before ctx is done.
func Run(ctx context.Context, opts Options) error {
	if opts.Step == 0 {
		opts.Step = 300 * time.Millisecond
	}
	s, err := newSession(&prefixWriter{w: opts.Logs, prefix: "servers | "})
	if err != nil {
		return err
	}
	d := &demo{opts: opts, s: s, secret: randomSecret(32), token: randomSecret(24)}
	defer s.close()
	step := func(what string, f func()) error {
		fmt.Fprintf(opts.Out, "==> %s\n", what)
		if err := s.catch(f); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if err := step("Starting Redis, the GitHub and AWS test servers, a registry and a git server", d.startServers); err != nil {
		return err
	}
	if err := d.startBinaries(ctx); err != nil {
		return err
	}
	var sha string
	if err := step("Pushing a commit to "+Repo+" (main)", func() { sha = d.commitMain() }); err != nil {
		return err
	}
	id, err := d.push(ctx, sha)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.Out, "\n%shttp://%s/deployments/%s\n%s%s/%s\n\n", LiveLabel, d.appAddr, id, GitHubLabel, d.gh.URL(), Repo)
	if err := d.openPullRequest(ctx); err != nil {
		return err
	}
	fmt.Fprintln(opts.Out, "==> Running until Ctrl-C")
	return d.watch(ctx, sha)
}

// startServers starts every service the binaries talk to and fills the
// sample repository's world: the App installed on it, the Blue/Green state
// machine and its ECS services.
func (d *demo) startServers() {
	cli := dockertest.Client(d.s)
	d.base = dockertest.BusyboxBase(d.s, cli)
	d.redis = testenv.Redis(d.s)
	d.aws = awstest.NewServer(d.s, awstest.WithStep(d.opts.Step))
	user, pass := d.aws.RegistryAuth()
	d.reg = registrytest.New(d.s, registrytest.Options{Username: user, Password: pass})
	d.aws.SetRegistryURL(d.reg.URL())
	d.sm = d.aws.StateMachineARN("panda-bluegreen")
	d.aws.AddStateMachine(d.sm, awstest.BlueGreenDefinition())
	for _, env := range environments {
		d.aws.AddBlueGreenService(awstest.BlueGreenService{Cluster: cluster, Service: env.service, Family: env.service})
	}
	d.gh = githubtest.NewServer(d.s)
	d.gh.AddInstallation(installation, Repo)
	d.gh.SetPermission(Repo, author, "write")
	d.git = gittest.NewServerWithTokens(d.s, d.gh.TokenCanRead)
	owner, name := splitRepo(Repo)
	d.repo = d.git.CreateRepo(owner, name)
}

// commitMain commits the sample application to main and shows its
// .panda.yml to the contents API, as GitHub would serve it.
func (d *demo) commitMain() string {
	cfg := pandaYAML(d.aws.Region(), d.sm)
	files := sampleFiles(d.base)
	files[".panda.yml"] = cfg
	sha := d.repo.Commit("main", files, "Add the hello app and its Panda configuration")
	d.gh.SetFile(Repo, sha, ".panda.yml", []byte(cfg))
	d.gh.SetBranch(Repo, "main", sha)
	return sha
}

// push sends the push webhook of sha and returns the deployment it made.
func (d *demo) push(ctx context.Context, sha string) (string, error) {
	body, err := pushPayload(Repo, "main", zeroSHA, sha, installation)
	if err != nil {
		return "", err
	}
	if err := d.webhook(ctx, "push", body); err != nil {
		return "", err
	}
	return d.waitDeployment(ctx, sha)
}

const zeroSHA = "0000000000000000000000000000000000000000"

// openPullRequest opens pull request 1 from a branch that changes the page,
// and comments /deploy preview on it as its author, who may write.
func (d *demo) openPullRequest(ctx context.Context) error {
	var sha string
	var commentID int64
	err := d.s.catch(func() {
		mainSHA, _ := d.repo.Head("main")
		d.repo.SetBranch("hello-world", mainSHA)
		sha = d.repo.Commit("hello-world", map[string]string{"index.html": indexHTML("Hello from a pull request")}, "Say hello from the pull request")
		d.gh.SetFile(Repo, sha, ".panda.yml", []byte(pandaYAML(d.aws.Region(), d.sm)))
		d.gh.SetBranch(Repo, "hello-world", sha)
		d.gh.AddPullRequest(Repo, githubtest.PullRequest{Number: 1, Title: "Say hello from the pull request",
			HeadSHA: sha, HeadRef: "hello-world", BaseRef: "main", User: author})
		commentID = d.gh.AddComment(Repo, 1, githubtest.Comment{User: author, Body: "/deploy preview"})
	})
	if err != nil {
		return fmt.Errorf("open a pull request: %w", err)
	}
	fmt.Fprintf(d.opts.Out, "==> Opened pull request #1 (%s) and commented /deploy preview\n", sha[:7])
	body, err := commentPayload(Repo, 1, commentID, author, "/deploy preview", installation)
	if err != nil {
		return err
	}
	return d.webhook(ctx, "issue_comment", body)
}

// webhook posts body to the app as GitHub delivers an event: signed with the
// webhook secret, with a fresh delivery id.
func (d *demo) webhook(ctx context.Context, event string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.appAddr+"/webhook", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send %s webhook: %w", event, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/demo")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", deliveryID())
	req.Header.Set("X-GitHub-Hook-ID", "1")
	req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
	req.Header.Set("X-Hub-Signature-256", signature(d.secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("send %s webhook: %w", event, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("send %s webhook: the app answered %s: %s", event, resp.Status, answer)
	}
	return nil
}

// freeAddr returns a free loopback address for the app.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// errExited is returned when a binary exits while the demo runs.
var errExited = errors.New("exited while the demo was running")

// lookGit checks for git before anything starts: the git server and the
// worker's clone both need it.
func lookGit() error {
	if _, err := exec.LookPath("git"); err != nil {
		return fmt.Errorf("%w: git: %w", errUnavailable, err)
	}
	return nil
}

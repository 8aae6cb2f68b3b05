package e2e

// The fault suite: the built binaries against real Redis, a real Docker
// engine, registry and git server, and the GitHub and AWS test servers, with
// one of them failing in each case. Every case checks the same promise (see
// faultStack.settled): no deployment is lost, none runs twice, each ends in
// exactly one final status with its check runs concluded.
//
// Cases wait on recoveries (Asynq takes a dead worker's task back about a
// minute after the crash), so they run in parallel: run the package with
// -parallel 12 or more to overlap those waits. -short skips the cases that
// wait for Asynq's recoverer.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/testenv"
)

// slowBuild is a Dockerfile whose build takes a few seconds in a RUN step.
func slowBuild(base string, seconds int) string {
	return "FROM " + base + "\nRUN sleep " + strconv.Itoa(seconds) + "\nCOPY hello.txt /hello.txt\n"
}

// TestFaultWorkerKilled kills the worker with SIGKILL while a deployment is in
// each of its stages, then starts another worker: the deployment ends once,
// successfully, with one execution.
func TestFaultWorkerKilled(t *testing.T) {
	t.Parallel()
	isUpload := func(r *http.Request) bool {
		return r.Method != http.MethodGet && r.Method != http.MethodHead && strings.Contains(r.URL.Path, "/blobs/uploads/")
	}
	cases := []struct {
		name string
		// recovered says the worker dies holding the task, which Asynq gives
		// back only when its lease has long expired: about a minute.
		recovered bool
		awsStep   time.Duration
		// reach posts the push and returns once the stage is under way, with
		// what to do once the worker is dead.
		reach func(t *testing.T, s *faultStack, sha string) (after func())
	}{
		{
			name:      "clone",
			recovered: true,
			reach: func(t *testing.T, s *faultStack, sha string) func() {
				hit := s.gitGate.hold(func(r *http.Request) bool { return strings.Contains(r.URL.String(), "git-upload-pack") })
				s.push("main", sha, "fault-kill-clone")
				waitChan(t, hit, time.Minute, "the clone to reach git")
				return s.gitGate.release
			},
		},
		{
			name:      "build",
			recovered: true,
			reach: func(t *testing.T, s *faultStack, sha string) func() {
				s.push("main", sha, "fault-kill-build")
				s.waitEvent(sha, "RUN sleep", time.Minute)
				return func() {}
			},
		},
		{
			name:      "push",
			recovered: true,
			reach: func(t *testing.T, s *faultStack, sha string) func() {
				hit := s.regGate.hold(isUpload)
				s.push("main", sha, "fault-kill-push")
				waitChan(t, hit, 2*time.Minute, "the push to reach the registry")
				return s.regGate.release
			},
		},
		{
			name:    "follow",
			awsStep: 300 * time.Millisecond, // about 8 s of execution history
			reach: func(t *testing.T, s *faultStack, sha string) func() {
				s.push("main", sha, "fault-kill-follow")
				s.waitFor("the worker to follow the execution", 2*time.Minute, func() bool {
					return s.aws.CallCount("GetExecutionHistory") > 0
				})
				return func() {}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.recovered && testing.Short() {
				t.Skip("waits about a minute for Asynq to recover the dead worker's task")
			}
			s := newFaultStack(t, faultOptions{awsStep: tc.awsStep})
			base := dockertest.BusyboxBase(t, dockertest.Client(t))
			s.startAppCmd()
			worker := s.start("worker")
			sha := s.commitTo("main", "production", map[string]string{"Dockerfile": slowBuild(base, 3), "hello.txt": tc.name + "\n"})
			after := tc.reach(t, s, sha)
			s.stop(worker, syscall.SIGKILL)
			if deps := s.deployments(sha); len(deps) != 1 || isFinal(deps[0].Status) {
				t.Fatalf("deployment %+v when the worker died, want one in flight", deps)
			}
			after()
			s.start("worker")
			s.settled(map[string]string{sha: "SUCCEEDED"}, 3*time.Minute)
		})
	}
}

// push posts a signed push of sha to branch and requires it to be queued.
func (s *faultStack) push(branch, sha, delivery string) {
	s.t.Helper()
	if code, err := s.sendWebhook("push", delivery, pushPayloadTo(s.t, branch, sha)); err != nil || code != http.StatusAccepted {
		s.t.Fatalf("push webhook %s answered %d (%v), want 202", delivery, code, err)
	}
}

func waitChan(t *testing.T, c <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(within):
		t.Fatalf("waited %v for %s", within, what)
	}
}

// TestFaultRedisRestart takes Redis away while one deployment builds and
// another is following its execution, and while a webhook arrives. Redis runs
// with AOF and fsync on every write, as the production docs require, and
// comes back from its files: the deployments in flight finish, the webhook
// answered 503 during the outage is taken when redelivered, and a delivery
// taken before the outage is still remembered after it.
func TestFaultRedisRestart(t *testing.T) {
	t.Parallel()
	s := newFaultStack(t, faultOptions{
		awsStep: 250 * time.Millisecond,
		redis:   []testenv.RedisOption{testenv.WithRedisArgs("--appendonly", "yes", "--appendfsync", "always")},
	})
	base := dockertest.BusyboxBase(t, dockertest.Client(t))
	app := s.startAppCmd()
	worker := s.start("worker")

	// One deployment in its deploy stage, one in its build, when Redis goes.
	// The first one's execution polls its ECS deployment six times (about 20 s).
	waits := []string{"WaitForDeployment", "WaitForDeployment", "WaitForDeployment", "WaitForDeployment", "WaitForDeployment", "WaitForDeployment"}
	s.aws.SetOutcome(s.smARN, awstest.Outcome{ChoicesInTurn: map[string][]string{"DeploymentStatus": waits}})
	following := s.commitTo("main", "production", map[string]string{"Dockerfile": dockerfile, "hello.txt": "following\n"})
	s.push("main", following, "fault-redis-following")
	s.waitFor("the first deployment to follow its execution", 2*time.Minute, func() bool {
		return s.aws.CallCount("GetExecutionHistory") > 0
	})
	s.aws.SetOutcome(s.smARN, awstest.Outcome{})
	building := s.commitTo("staging", "staging", map[string]string{"Dockerfile": slowBuild(base, 4), "hello.txt": "building\n"})
	s.push("staging", building, "fault-redis-building")
	s.waitEvent(building, "RUN sleep", time.Minute)

	for _, sha := range []string{following, building} {
		if deps := s.deployments(sha); len(deps) != 1 || isFinal(deps[0].Status) {
			t.Fatalf("deployment of %.7s is %+v before the outage, want one in flight; make it slower", sha, deps)
		}
	}
	s.rs.Stop()
	late := s.commitTo("preview", "preview", map[string]string{"Dockerfile": dockerfile, "hello.txt": "late\n"})
	if code, err := s.sendWebhook("push", "fault-redis-late", pushPayloadTo(t, "preview", late)); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("a webhook during the outage answered %d (%v), want 503", code, err)
	}
	time.Sleep(3 * time.Second) // an outage long enough for every loop to notice
	s.rs.Start()

	s.alive(app, "app")
	s.alive(worker, "worker")
	// GitHub redelivers (or the sweeper asks it to): now it is taken.
	var code int
	s.waitFor("the redelivered webhook to be taken", 30*time.Second, func() bool {
		code, _ = s.sendWebhook("push", "fault-redis-late", pushPayloadTo(t, "preview", late))
		return code != http.StatusServiceUnavailable
	})
	if code != http.StatusAccepted {
		t.Errorf("the redelivery after the outage answered %d, want 202", code)
	}
	if code, err := s.sendWebhook("push", "fault-redis-following", pushPayloadTo(t, "main", following)); err != nil || code != http.StatusOK {
		t.Errorf("a delivery taken before the outage, redelivered after it, answered %d (%v), want 200", code, err)
	}
	s.settled(map[string]string{following: "SUCCEEDED", building: "SUCCEEDED", late: "SUCCEEDED"}, 3*time.Minute)
}

// TestFaultAppRestartSSE restarts the app twice, once killed and once
// stopped gracefully, while SSE clients follow a deployment: each client
// reconnects with Last-Event-ID and ends up with every event of the stream
// exactly once, in order.
func TestFaultAppRestartSSE(t *testing.T) {
	t.Parallel()
	s := newFaultStack(t, faultOptions{awsStep: 100 * time.Millisecond})
	base := dockertest.BusyboxBase(t, dockertest.Client(t))
	app := s.startAppCmd()
	s.start("worker")
	// A build that prints a line every 0.2 s: a steady flow of events.
	df := "FROM " + base + "\nRUN i=0; while test $i -lt 50; do echo tick $i; i=$((i+1)); sleep 0.2; done\nCOPY hello.txt /hello.txt\n"
	sha := s.commitTo("main", "production", map[string]string{"Dockerfile": df, "hello.txt": "sse\n"})
	s.push("main", sha, "fault-sse")
	var id string
	s.waitFor("the deployment to exist", time.Minute, func() bool {
		if deps := s.deployments(sha); len(deps) == 1 {
			id = deps[0].ID
		}
		return id != ""
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	followers := make([]*sseFollower, 3)
	var wg sync.WaitGroup
	for i := range followers {
		followers[i] = &sseFollower{url: "http://" + s.appAddr + "/api/v1/deploy/" + id + "/events"}
		wg.Add(1)
		go func() { defer wg.Done(); followers[i].run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	st := s.openStore()
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		// Restart once every client has seen a few events more than the
		// stream held a moment ago.
		evs, err := st.Events(ctx, id, "", 100000, 0)
		if err != nil {
			t.Fatal(err)
		}
		s.waitFor("every client to see new events", 2*time.Minute, func() bool { return allSaw(followers, len(evs)+3) })
		for _, f := range followers {
			if _, _, finished := f.snapshot(); finished {
				t.Fatal("the deployment ended before the app restarted; make the build slower")
			}
		}
		s.stop(app, sig)
		time.Sleep(300 * time.Millisecond)
		app = s.startAppCmd()
	}
	s.waitFor("every client to reach the final event", 3*time.Minute, func() bool {
		for _, f := range followers {
			if _, _, finished := f.snapshot(); !finished {
				return false
			}
		}
		return true
	})
	s.settled(map[string]string{sha: "SUCCEEDED"}, time.Minute)

	stored, err := st.Events(context.Background(), id, "", 100000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range followers {
		got, connects, _ := f.snapshot()
		if connects < 3 {
			t.Errorf("client %d connected %d times, want at least 3 (two restarts)", i, connects)
		}
		if len(got) != len(stored) {
			t.Errorf("client %d received %d events, the stream holds %d", i, len(got), len(stored))
		}
		for j := range min(len(got), len(stored)) {
			if got[j].id != stored[j].ID {
				t.Errorf("client %d: event %d is %s, want %s (a gap or a duplicate)", i, j, got[j].id, stored[j].ID)
				break
			}
		}
	}
}

func allSaw(followers []*sseFollower, n int) bool {
	for _, f := range followers {
		if evs, _, _ := f.snapshot(); len(evs) < n {
			return false
		}
	}
	return true
}

// TestFaultDockerEngineRestart kills the worker's Docker engine in the middle
// of a build and starts it again: the build is retried and the deployment
// succeeds once. The engine is the test's own, so the one the other tests
// share is never touched.
func TestFaultDockerEngineRestart(t *testing.T) {
	t.Parallel()
	eng := startPrivateEngine(t)
	base := dockertest.BusyboxBase(t, eng.client())
	s := newFaultStack(t, faultOptions{dockerHost: eng.host})
	s.startAppCmd()
	s.start("worker")
	sha := s.commitTo("main", "production", map[string]string{"Dockerfile": slowBuild(base, 5), "hello.txt": "engine\n"})
	s.push("main", sha, "fault-docker")
	s.waitEvent(sha, "RUN sleep", 2*time.Minute)
	eng.stop(syscall.SIGKILL)
	if deps := s.deployments(sha); len(deps) != 1 || isFinal(deps[0].Status) {
		t.Fatalf("deployment %+v when the engine died, want one in flight", deps)
	}
	eng.start()
	s.settled(map[string]string{sha: "SUCCEEDED"}, 3*time.Minute)
}

// TestFaultGitHubAndAWSErrors has GitHub answer 5xx and secondary rate limits
// and AWS answer ThrottlingException (ECR, StartExecution,
// GetExecutionHistory) along the way: the deployment still succeeds, every
// check-run update lands in order, and every injected fault was met.
func TestFaultGitHubAndAWSErrors(t *testing.T) {
	t.Parallel()
	s := newFaultStack(t, faultOptions{})
	s.startAppCmd()
	s.start("worker")
	sha := s.commitTo("main", "production", map[string]string{"Dockerfile": dockerfile, "hello.txt": "faults\n"})

	s.aws.Throttle("DescribeRepositories", 2)
	s.aws.Throttle("GetAuthorizationToken", 2)
	s.aws.Throttle("StartExecution", 2)
	s.aws.Throttle("GetExecutionHistory", 3) // one more than the SDK's attempts: the task retries
	const awsFaults = 9
	// The worker's first GitHub calls (token, contents, check runs) meet these.
	s.gh.FailNext(2, githubtest.Fault{Status: http.StatusBadGateway})
	s.gh.FailNext(1, githubtest.SecondaryRateLimit(time.Second))
	s.push("main", sha, "fault-apis")
	// The stage updates meet these.
	s.waitEvent(sha, "Build started", time.Minute)
	s.gh.FailNext(1, githubtest.Fault{Status: http.StatusInternalServerError})
	s.gh.FailNext(1, githubtest.SecondaryRateLimit(time.Second))
	s.waitEvent(sha, "Deployment started", 2*time.Minute)
	s.gh.FailNext(2, githubtest.Fault{Status: http.StatusServiceUnavailable})
	const ghFaults = 7

	s.settled(map[string]string{sha: "SUCCEEDED"}, 3*time.Minute)
	met, checkRunsMet := 0, 0
	for _, r := range s.gh.Requests() {
		if r.Status >= 500 || r.Status == http.StatusForbidden {
			met++
			if strings.Contains(r.Path, "/check-runs") {
				checkRunsMet++
			}
		}
	}
	if met != ghFaults {
		t.Errorf("GitHub answered %d requests with an error, want the %d injected", met, ghFaults)
	}
	if checkRunsMet == 0 {
		t.Error("no check-run request met an injected fault: the case proves nothing about them")
	}
	throttled := 0
	for _, c := range s.aws.Calls() {
		if c.ErrorCode == "ThrottlingException" {
			throttled++
		}
	}
	if throttled != awsFaults {
		t.Errorf("AWS throttled %d calls, want the %d injected", throttled, awsFaults)
	}
}

// TestFaultSameDelivery20Times sends one delivery 20 times at once: one is
// queued, the others are acknowledged as taken, and one deployment runs.
func TestFaultSameDelivery20Times(t *testing.T) {
	t.Parallel()
	s := newFaultStack(t, faultOptions{})
	s.startAppCmd()
	s.start("worker")
	sha := s.commitTo("main", "production", map[string]string{"Dockerfile": dockerfile, "hello.txt": "twenty\n"})
	body := pushPayloadTo(t, "main", sha)

	codes := make([]int, 20)
	errs := make([]error, 20)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i], errs[i] = s.sendWebhook("push", "fault-twenty", body)
		}()
	}
	close(start)
	wg.Wait()
	accepted := 0
	for i, code := range codes {
		switch {
		case errs[i] != nil:
			t.Errorf("delivery %d: %v", i, errs[i])
		case code == http.StatusAccepted:
			accepted++
		case code != http.StatusOK:
			t.Errorf("delivery %d answered %d, want 202 once and 200 for the rest", i, code)
		}
	}
	if accepted != 1 {
		t.Errorf("%d of 20 copies were queued, want exactly 1", accepted)
	}
	s.settled(map[string]string{sha: "SUCCEEDED"}, 3*time.Minute)
	if n := len(s.aws.Executions(s.smARN)); n != 1 {
		t.Errorf("%d executions, want 1", n)
	}
}

package jobs_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
)

// These tests run the shipped state machine, evaluated as Step Functions
// would, against the ECS model's blue/green service web of cluster prod
// (what pandaYML names), at scale virtual seconds per second.

func newECSHarness(t *testing.T, deployTimeout time.Duration, scale float64, svc awstest.BlueGreenService) *harness {
	t.Helper()
	h := newHarness(t, deployTimeout, awstest.WithTimeScale(scale))
	h.aws.SetOutcome(h.smARN, awstest.Outcome{Evaluate: true})
	svc.Cluster, svc.Service, svc.Family = "prod", "web", "web"
	h.aws.AddBlueGreenService(svc)
	return h
}

// blueGreen is a BLUE_GREEN deployment configuration with the circuit
// breaker (rollback on) and bake minutes of bake time.
func blueGreen(bake int32, hooks ...ecstypes.DeploymentLifecycleHook) *ecstypes.DeploymentConfiguration {
	return &ecstypes.DeploymentConfiguration{
		Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(bake),
		DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true},
		LifecycleHooks:           hooks,
	}
}

// postTestHook is a Lambda hook at POST_TEST_TRAFFIC_SHIFT: while it runs,
// the new revision has test traffic and production traffic has not moved.
func postTestHook(account string) ecstypes.DeploymentLifecycleHook {
	return ecstypes.DeploymentLifecycleHook{
		HookTargetArn:   aws.String("arn:aws:lambda:us-east-1:" + account + ":function:panda-health"),
		RoleArn:         aws.String("arn:aws:iam::" + account + ":role/ecs-hooks"),
		LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift},
	}
}

func (h *harness) ecsState() awstest.ECSServiceState {
	h.t.Helper()
	st, ok := h.aws.ECSService("prod", "web")
	if !ok {
		h.t.Fatal("the ECS service is gone")
	}
	return st
}

func ecsTerminal(s ecstypes.ServiceDeploymentStatus) bool {
	switch s {
	case ecstypes.ServiceDeploymentStatusSuccessful, ecstypes.ServiceDeploymentStatusStopped,
		ecstypes.ServiceDeploymentStatusRollbackSuccessful, ecstypes.ServiceDeploymentStatusRollbackFailed:
		return true
	}
	return false
}

// deployCheck returns the deploy check run of sha.
func (h *harness) deployCheck(sha string) githubtest.CheckRun {
	h.t.Helper()
	for _, r := range h.gh.CheckRuns(testRepo) {
		if r.Name == "panda/deploy" && r.HeadSHA == sha {
			return r
		}
	}
	h.t.Fatalf("no deploy check run for %s", sha)
	return githubtest.CheckRun{}
}

// watchUntilFinal follows the deployment of sha and ECS side by side until
// the deployment is final, and fails the test the moment Panda calls it
// final, or a second service deployment starts, while ECS is still working
// on the first one.
func (h *harness) watchUntilFinal(sha string, within time.Duration) {
	h.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		// Read the deployment first: ECS read after it can only be further on.
		list, err := h.store.List(context.Background(), store.Filter{Repo: testRepo, SHA: sha})
		if err != nil || len(list) != 1 {
			h.t.Fatalf("deployments of %s: %v %v", sha, len(list), err)
		}
		st := h.ecsState()
		if len(st.Deployments) == 0 {
			if list[0].Status.Final() {
				h.t.Fatalf("the deployment ended %s (%s) before ECS started a service deployment", list[0].Status, list[0].Error)
			}
			continue
		}
		first := st.Deployments[0]
		if len(st.Deployments) > 1 && !ecsTerminal(first.Status) {
			h.t.Fatalf("a second service deployment started while the first was %s", first.Status)
		}
		if list[0].Status.Final() {
			if !ecsTerminal(first.Status) {
				h.t.Fatalf("Panda ended the deployment %s while ECS was %s", list[0].Status, first.Status)
			}
			return
		}
	}
	h.t.Fatalf("deployment of %s did not end within %s", sha, within)
}

// TestCancelRollsECSBack: a cancel while the new revision has test traffic
// rolls the ECS service deployment back; the deployment is CANCELED only
// once ECS confirms, saying to which revision, and the next deployment of
// the environment waits for it.
func TestCancelRollsECSBack(t *testing.T) {
	t.Parallel()
	h := newECSHarness(t, 0, 10, awstest.BlueGreenService{
		DeploymentConfiguration: blueGreen(5, postTestHook(awstest.DefaultAccount)),
		Scenario:                awstest.ECSScenario{HookSeconds: 600},
	})
	h.gh.SetPermission(testRepo, "alice", "write")
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "one\n"}, h.pandaYML(""))
	h.push(sha, "one")
	dep := h.waitFor(sha, func(d *store.Deployment) bool { return d.ExecutionARN != "" })
	next := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "two\n"}, h.pandaYML(""))
	h.push(next, "two")
	h.waitFor(next, func(d *store.Deployment) bool { return d.ImageURI != "" })
	waitFor(t, func() bool {
		st := h.ecsState()
		return len(st.Deployments) == 1 && st.Deployments[0].LifecycleStage == ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift
	}, "the new revision to have test traffic")

	h.pressVisible(dep, checks.ActionCancel, "alice") // the Cancel GitHub displays, on the completed controls run
	h.watchUntilFinal(sha, 2*time.Minute)
	dep = h.waitFinal(sha, time.Minute)
	st := h.ecsState()
	if got := st.Deployments[0].Status; got != ecstypes.ServiceDeploymentStatusRollbackSuccessful {
		t.Errorf("ECS service deployment %s, want ROLLBACK_SUCCESSFUL", got)
	}
	if dep.Status != store.StatusCanceled || !strings.Contains(dep.Error, "alice") || !strings.Contains(dep.Error, "rolled back to revision 1") {
		t.Errorf("deployment %s: %q, want CANCELED by alice, rolled back to revision 1", dep.Status, dep.Error)
	}
	run := h.deployCheck(sha)
	if run.Conclusion != "cancelled" || !strings.Contains(run.Output.Summary, "rolled back to revision 1") {
		t.Errorf("deploy check run %s: %q, want cancelled saying rolled back to revision 1", run.Conclusion, run.Output.Summary)
	}
	// The next deployment starts once ECS has rolled back, not before.
	h.waitFor(next, func(d *store.Deployment) bool { return d.ExecutionARN != "" })
	waitFor(t, func() bool { return len(h.ecsState().Deployments) == 2 }, "the next deployment's service deployment")
}

// TestTimeoutRollsECSBack: a rollout that outlives the deployment timeout
// (no bake time or hooks to allow for) is rolled back on ECS and ends TIMEOUT
// once ECS confirms.
func TestTimeoutRollsECSBack(t *testing.T) {
	t.Parallel()
	// The service deployment takes about 125 virtual seconds, 25 s here:
	// well past the timeout, which comes well after UpdateService.
	h := newECSHarness(t, 8*time.Second, 5, awstest.BlueGreenService{DeploymentConfiguration: blueGreen(0)})
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "slow\n"}, h.pandaYML(""))
	h.push(sha, "slow")
	h.waitFor(sha, func(d *store.Deployment) bool { return d.ExecutionARN != "" })
	h.watchUntilFinal(sha, 2*time.Minute)
	dep := h.waitFinal(sha, time.Minute)
	if got := h.ecsState().Deployments[0].Status; got != ecstypes.ServiceDeploymentStatusRollbackSuccessful {
		t.Errorf("ECS service deployment %s, want ROLLBACK_SUCCESSFUL", got)
	}
	if dep.Status != store.StatusTimeout || !strings.Contains(dep.Error, "rolled back to revision 1") {
		t.Errorf("deployment %s: %q, want TIMEOUT, rolled back to revision 1", dep.Status, dep.Error)
	}
	if run := h.deployCheck(sha); !strings.Contains(run.Output.Summary, "rolled back to revision 1") {
		t.Errorf("deploy check run %s: %q", run.Conclusion, run.Output.Summary)
	}
}

// TestLongBakeIsNotTimedOut: a 30-minute bake time is longer than the
// deployment timeout, and the rollout still succeeds: Panda allows for the
// bake time the service deployment is configured with.
func TestLongBakeIsNotTimedOut(t *testing.T) {
	t.Parallel()
	// 30 virtual minutes are 9 s here, the timeout 3 s.
	h := newECSHarness(t, 3*time.Second, 200, awstest.BlueGreenService{DeploymentConfiguration: blueGreen(30)})
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "bake\n"}, h.pandaYML(""))
	h.push(sha, "bake")
	dep := h.waitFinal(sha, 2*time.Minute)
	if dep.Status != store.StatusSucceeded {
		t.Fatalf("deployment %s: %q, want SUCCEEDED", dep.Status, dep.Error)
	}
	st := h.ecsState()
	if got := st.Deployments[0].Status; got != ecstypes.ServiceDeploymentStatusSuccessful || !strings.HasSuffix(st.TaskDefinition, ":2") {
		t.Errorf("ECS service deployment %s, task definition %s; want SUCCESSFUL with revision 2", got, st.TaskDefinition)
	}
	if n := h.aws.CallCount("StopServiceDeployment"); n != 0 {
		t.Errorf("StopServiceDeployment called %d times", n)
	}
}

// TestECSFailureReasons: when ECS rolls the deployment back, the deploy
// check run and the result say why in ECS's own words: the error the
// definition names, the final status, the stopped tasks' reasons (also as
// annotations) and the service's events.
func TestECSFailureReasons(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		scenario awstest.ECSScenario
		want     []string
	}{
		{name: "failing_health_checks", scenario: awstest.ECSScenario{UnhealthyTasks: true},
			want: []string{"Panda.DeploymentRolledBack", "circuit breaker", "ROLLBACK_SUCCESSFUL", "Stopped task: Task failed ELB health checks in (target-group", "ECS event: (service web)"}},
		{name: "image_pull_fails", scenario: awstest.ECSScenario{ImagePullFails: true},
			want: []string{"Panda.DeploymentRolledBack", "Stopped task: CannotPullContainerError"}},
		{name: "container_exits", scenario: awstest.ECSScenario{ContainerExitCode: 3},
			want: []string{"Panda.DeploymentRolledBack", "Stopped task: Essential container in task exited (web exit code 3)"}},
		{name: "rollback_fails", scenario: awstest.ECSScenario{UnhealthyTasks: true, RollbackFails: true},
			want: []string{"The service deployment ended ROLLBACK_FAILED", "could not roll the service deployment back"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newECSHarness(t, 0, 1000, awstest.BlueGreenService{DeploymentConfiguration: blueGreen(5), Scenario: tt.scenario})
			sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": tt.name}, h.pandaYML(""))
			h.push(sha, tt.name)
			dep := h.waitFinal(sha, 2*time.Minute)
			if dep.Status != store.StatusFailed || dep.ErrorStage != "deploy" {
				t.Fatalf("deployment %s at %q: %q, want FAILED at deploy", dep.Status, dep.ErrorStage, dep.Error)
			}
			run := h.deployCheck(sha)
			t.Logf("deploy check run summary:\n%s", run.Output.Summary)
			for _, w := range tt.want {
				if !strings.Contains(dep.Error, w) {
					t.Errorf("result error lacks %q:\n%s", w, dep.Error)
				}
				if !strings.Contains(run.Output.Summary, w) {
					t.Errorf("deploy check run summary lacks %q:\n%s", w, run.Output.Summary)
				}
			}
			if !strings.Contains(tt.name, "rollback_fails") && strings.Contains(dep.Error, "ROLLBACK_FAILED") {
				t.Errorf("a successful rollback reported as failed: %s", dep.Error)
			}
			found := false
			for _, a := range run.Output.Annotations {
				found = found || (a.Path == ".panda.yml" && strings.Contains(a.Message, "ECS stopped a task of web"))
			}
			if !found {
				t.Errorf("no annotation for the stopped tasks: %+v", run.Output.Annotations)
			}
		})
	}
}

// TestHealthCheckFailureRollsBack: the new revision answers 503 on the test
// listener; production traffic never moves, ECS rolls back, and the deploy
// check run shows what the probe got.
func TestHealthCheckFailureRollsBack(t *testing.T) {
	t.Parallel()
	var probes atomic.Int32
	h := newECSHarness(t, 0, 1000, awstest.BlueGreenService{
		DeploymentConfiguration: blueGreen(5),
		TestTraffic: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			probes.Add(1)
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"db":"unreachable"}`))
		}),
	})
	h.aws.AddLambda("arn:aws:lambda:"+h.aws.Region()+":"+h.aws.Account()+":function:panda-bluegreen-health-check", h.aws.HealthCheckFunction())
	yml := h.pandaYML("    health_check:\n      path: /healthz\n      attempts: 2\n      timeout: 2s\n")
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "sick\n"}, yml)
	h.push(sha, "sick")
	dep := h.waitFinal(sha, 2*time.Minute)
	if dep.Status != store.StatusFailed {
		t.Fatalf("deployment %s: %q, want FAILED", dep.Status, dep.Error)
	}
	st := h.ecsState()
	if got := st.Deployments[0].Status; got != ecstypes.ServiceDeploymentStatusRollbackSuccessful || !strings.HasSuffix(st.TaskDefinition, ":1") {
		t.Errorf("ECS service deployment %s, service on %s; want ROLLBACK_SUCCESSFUL back on revision 1", got, st.TaskDefinition)
	}
	if n := probes.Load(); n != 2 {
		t.Errorf("the test listener was probed %d times, want 2", n)
	}
	want := []string{"HealthCheck failed (Panda.HealthCheckFailed)", ":8080/healthz answered 503 (expected 200) after 2 attempt(s): {\"db\":\"unreachable\"}", "ROLLBACK_SUCCESSFUL"}
	run := h.deployCheck(sha)
	for _, w := range want {
		if !strings.Contains(dep.Error, w) || !strings.Contains(run.Output.Summary, w) {
			t.Errorf("result and deploy check run should say %q:\nresult: %s\ncheck run: %s", w, dep.Error, run.Output.Summary)
		}
	}
}

// TestHealthCheckPassesThenProduction: a healthy revision answers the probe
// on the test listener and the rollout goes on to production and succeeds.
func TestHealthCheckPassesThenProduction(t *testing.T) {
	t.Parallel()
	var probed atomic.Int32
	h := newECSHarness(t, 0, 1000, awstest.BlueGreenService{
		DeploymentConfiguration: blueGreen(5),
		TestTraffic: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ready" {
				probed.Add(1)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			http.NotFound(w, r)
		}),
	})
	h.aws.AddLambda("arn:aws:lambda:"+h.aws.Region()+":"+h.aws.Account()+":function:panda-bluegreen-health-check", h.aws.HealthCheckFunction())
	yml := h.pandaYML("    health_check:\n      path: /ready\n      expect_status: 204\n")
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "well\n"}, yml)
	h.push(sha, "well")
	dep := h.waitFinal(sha, 2*time.Minute)
	if dep.Status != store.StatusSucceeded {
		t.Fatalf("deployment %s: %q, want SUCCEEDED", dep.Status, dep.Error)
	}
	st := h.ecsState()
	if got := st.Deployments[0].Status; got != ecstypes.ServiceDeploymentStatusSuccessful || !strings.HasSuffix(st.TaskDefinition, ":2") {
		t.Errorf("ECS service deployment %s, service on %s; want SUCCESSFUL on revision 2", got, st.TaskDefinition)
	}
	if n := probed.Load(); n != 1 {
		t.Errorf("the test listener was probed %d times, want 1", n)
	}
}

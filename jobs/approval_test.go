package jobs_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
)

// These tests run the shipped state machine against the ECS model with
// .panda.yml's approval: ECS holds the new revision on the test listener at
// the PAUSE hook, and Panda answers it once someone allowed does.

// waitApproval waits until the controls run of the deployment of sha offers
// Approve and Reject, and returns the deployment and that run.
func (h *harness) waitApproval(sha string) (*store.Deployment, githubtest.CheckRun) {
	h.t.Helper()
	dep := h.waitFor(sha, func(d *store.Deployment) bool { return d.Approval != nil })
	var run githubtest.CheckRun
	waitFor(h.t, func() bool {
		run = h.controlsRun(dep)
		return slices.ContainsFunc(run.Actions, func(a githubtest.CheckRunAction) bool { return a.Identifier == checks.ActionApprove })
	}, "the controls run to offer Approve")
	return dep, run
}

// controlsSays waits until the controls run's text or summary holds want.
func (h *harness) controlsSays(dep *store.Deployment, want string) {
	h.t.Helper()
	waitFor(h.t, func() bool {
		run := h.controlsRun(dep)
		return strings.Contains(run.Output.Text, want) || strings.Contains(run.Output.Summary, want)
	}, "the controls run to say "+want)
}

// approvalAudit returns the audit log's approval answers for dep.
func (h *harness) approvalAudit(dep *store.Deployment) []audit.Entry {
	h.t.Helper()
	entries, _, err := audit.New(h.rdb, 0).List(context.Background(), audit.Query{Repo: testRepo})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []audit.Entry
	for _, e := range entries {
		if e.Action == audit.ApprovalAnswered && e.DeploymentID == dep.ID {
			out = append(out, e)
		}
	}
	return out
}

func (h *harness) continueCalls() []string {
	var out []string
	for _, c := range h.aws.Calls() {
		if c.Operation == "ContinueServiceDeployment" {
			out = append(out, string(c.Input))
		}
	}
	return out
}

// TestApprovalByTeamMemberThenProduction: the new revision waits on the
// test listener with Approve and Reject on the controls run; the pusher, a
// pending team member and an outsider are refused in the controls run's
// words; an active member of the named team approves, production traffic
// moves, and the audit log says who approved.
func TestApprovalByTeamMemberThenProduction(t *testing.T) {
	t.Parallel()
	h := newECSHarness(t, 0, 100, awstest.BlueGreenService{DeploymentConfiguration: blueGreen(1)})
	h.gh.AddTeamMember("acme", "release", "carol", "active")
	h.gh.AddTeamMember("acme", "release", "dave", "pending")
	h.gh.SetPermission(testRepo, "octocat", "admin")
	yml := h.pandaYML("    approval:\n      required: true\n      approvers: [octocat, alice, acme/release]\n      timeout: 60m\n")
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "approve me\n"}, yml)
	h.push(sha, "approve me")
	dep, run := h.waitApproval(sha)
	if !strings.Contains(run.Output.Summary, dep.Approval.TestURL) || !strings.HasSuffix(dep.Approval.TestURL, ":8080") {
		t.Errorf("controls run summary %q should show the test URL %q", run.Output.Summary, dep.Approval.TestURL)
	}
	if !strings.Contains(run.Output.Summary, "@octocat, @alice, acme/release") {
		t.Errorf("controls run summary %q should say who may answer", run.Output.Summary)
	}
	// Production traffic has not moved: ECS holds the deployment after the test traffic shift.
	if d := h.ecsState().Deployments[0]; d.Status != ecstypes.ServiceDeploymentStatusInProgress || d.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift {
		t.Fatalf("while waiting, the ECS service deployment is %s at %s; want IN_PROGRESS at POST_TEST_TRAFFIC_SHIFT", d.Status, d.LifecycleStage)
	}

	h.pressVisible(dep, checks.ActionApprove, "octocat")
	h.controlsSays(dep, "@octocat started this deployment")
	h.pressVisible(dep, checks.ActionApprove, "dave")
	h.controlsSays(dep, "@dave, only @octocat, @alice or members of acme/release can approve deployments to production, so Panda did nothing.")
	if n := len(h.continueCalls()); n != 0 {
		t.Fatalf("ECS was answered %d times after refused presses", n)
	}
	h.pressVisible(dep, checks.ActionApprove, "carol")

	dep = h.waitFinal(sha, 2*time.Minute)
	if dep.Status != store.StatusSucceeded {
		t.Fatalf("deployment %s: %q, want SUCCEEDED", dep.Status, dep.Error)
	}
	if st := h.ecsState(); st.Deployments[0].Status != ecstypes.ServiceDeploymentStatusSuccessful || !strings.HasSuffix(st.TaskDefinition, ":2") {
		t.Errorf("ECS service deployment %s, service on %s; want SUCCESSFUL on revision 2", st.Deployments[0].Status, st.TaskDefinition)
	}
	if calls := h.continueCalls(); len(calls) != 1 || !strings.Contains(calls[0], `"action":"CONTINUE"`) {
		t.Errorf("ContinueServiceDeployment calls %v, want one CONTINUE", calls)
	}
	var waiting, answered int
	for _, ev := range h.events(dep.ID) {
		switch k := parse(t, ev).(type) {
		case events.ApprovalWaiting:
			waiting++
			if k.TestURL != dep.Approval.TestURL {
				t.Errorf("ApprovalWaiting test URL %q, want %q", k.TestURL, dep.Approval.TestURL)
			}
		case events.ApprovalAnswered:
			answered++
			if !k.Approved || k.Actor != "carol" {
				t.Errorf("ApprovalAnswered %+v, want approved by carol", k)
			}
		}
	}
	if waiting != 1 || answered != 1 {
		t.Errorf("%d ApprovalWaiting and %d ApprovalAnswered events, want one each", waiting, answered)
	}
	if a := h.approvalAudit(dep); len(a) != 1 || a[0].Actor != "carol" || a[0].Outcome != "approved" {
		t.Errorf("audit entries %+v, want carol's approval", a)
	}
}

// TestApprovalRejectedByCommentRollsBack: with no approvers named, a
// reader's /deploy reject is refused by reply; a writer's rolls the new
// revision back, and GitHub says who rejected it.
func TestApprovalRejectedByCommentRollsBack(t *testing.T) {
	t.Parallel()
	h := newECSHarness(t, 0, 100, awstest.BlueGreenService{DeploymentConfiguration: blueGreen(1)})
	h.gh.SetPermission(testRepo, "alice", "write")
	h.gh.SetPermission(testRepo, "bob", "write")
	h.gh.SetPermission(testRepo, "rob", "read")
	sha := h.openPR(11, h.pandaYML("    approval:\n      required: true\n"), githubtest.PullRequest{User: "alice"})
	task, _ := h.commentTask(11, true, "alice", "/deploy")
	h.enqueue(task)
	dep, _ := h.waitApproval(sha)

	task, _ = h.commentTask(11, true, "rob", "/deploy reject")
	h.enqueue(task)
	replies := h.waitReply(11, 2)
	if !strings.Contains(replies[1].Body, "@rob, only people with write access to "+testRepo+" can answer its approvals") {
		t.Errorf("reply to a reader's reject: %q", replies[1].Body)
	}
	task, _ = h.commentTask(11, true, "bob", "/deploy reject production")
	h.enqueue(task)
	replies = h.waitReply(11, 3)
	if !strings.Contains(replies[2].Body, "Rejected "+dep.ID) {
		t.Errorf("reply to /deploy reject: %q", replies[2].Body)
	}

	dep = h.waitFinal(sha, 2*time.Minute)
	if dep.Status != store.StatusFailed || !strings.HasPrefix(dep.Error, "Rejected by @bob: the new revision is rolled back") {
		t.Fatalf("deployment %s: %q, want FAILED, rejected by bob", dep.Status, dep.Error)
	}
	if st := h.ecsState(); st.Deployments[0].Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful || !strings.HasSuffix(st.TaskDefinition, ":1") {
		t.Errorf("ECS service deployment %s, service on %s; want ROLLBACK_SUCCESSFUL back on revision 1", st.Deployments[0].Status, st.TaskDefinition)
	}
	if run := h.deployCheck(sha); run.Conclusion != "failure" || !strings.Contains(run.Output.Summary, "Rejected by @bob") {
		t.Errorf("deploy check run %s: %q, want a failure that says bob rejected it", run.Conclusion, run.Output.Summary)
	}
	if calls := h.continueCalls(); len(calls) != 1 || !strings.Contains(calls[0], `"action":"ROLLBACK"`) {
		t.Errorf("ContinueServiceDeployment calls %v, want one ROLLBACK", calls)
	}
	if a := h.approvalAudit(dep); len(a) != 1 || a[0].Actor != "bob" || a[0].Outcome != "rejected" {
		t.Errorf("audit entries %+v, want bob's rejection", a)
	}
}

// TestApprovalTimeoutRollsBack: a press by someone not named is refused and
// changes nothing; nobody allowed answers within the timeout, so Panda
// answers ROLLBACK itself and the deployment ends TIMEOUT, saying so. The
// ECS clock runs 8 times faster than the wall clock: the hook's own timeout
// (the approval's plus 15 minutes, 2 minutes here) comes after Panda's.
func TestApprovalTimeoutRollsBack(t *testing.T) {
	t.Parallel()
	h := newECSHarness(t, 0, 8, awstest.BlueGreenService{DeploymentConfiguration: blueGreen(0)})
	h.gh.SetPermission(testRepo, "mallory", "write")
	yml := h.pandaYML("    approval:\n      required: true\n      approvers: [alice]\n      timeout: 1m\n")
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "nobody looks\n"}, yml)
	h.push(sha, "nobody looks")
	dep, _ := h.waitApproval(sha)
	h.pressVisible(dep, checks.ActionApprove, "mallory")
	h.controlsSays(dep, "@mallory, only @alice can approve deployments to production, so Panda did nothing.")

	dep = h.waitFinal(sha, 3*time.Minute)
	if dep.Status != store.StatusTimeout || !strings.HasPrefix(dep.Error, "No approval within 1 minute: the new revision is rolled back") {
		t.Fatalf("deployment %s: %q, want TIMEOUT for want of an approval", dep.Status, dep.Error)
	}
	if st := h.ecsState(); st.Deployments[0].Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful || !strings.HasSuffix(st.TaskDefinition, ":1") {
		t.Errorf("ECS service deployment %s, service on %s; want ROLLBACK_SUCCESSFUL back on revision 1", st.Deployments[0].Status, st.TaskDefinition)
	}
	if calls := h.continueCalls(); len(calls) != 1 || !strings.Contains(calls[0], `"action":"ROLLBACK"`) {
		t.Errorf("ContinueServiceDeployment calls %v, want Panda's one ROLLBACK", calls)
	}
	if run := h.deployCheck(sha); run.Conclusion != "timed_out" || !strings.Contains(run.Output.Summary, "No approval within 1 minute") {
		t.Errorf("deploy check run %s: %q", run.Conclusion, run.Output.Summary)
	}
	if a := h.approvalAudit(dep); len(a) != 1 || a[0].Actor != "" || a[0].Outcome != "timed_out" {
		t.Errorf("audit entries %+v, want one timed_out", a)
	}
}

// TestCancelWhileAwaitingApproval: Cancel pressed while the new revision
// waits for approval rolls ECS back as any cancel does; the hook is never
// answered.
func TestCancelWhileAwaitingApproval(t *testing.T) {
	t.Parallel()
	h := newECSHarness(t, 0, 100, awstest.BlueGreenService{DeploymentConfiguration: blueGreen(1)})
	h.gh.SetPermission(testRepo, "alice", "write")
	yml := h.pandaYML("    approval:\n      required: true\n      approvers: [bob]\n")
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "never mind\n"}, yml)
	h.push(sha, "never mind")
	dep, _ := h.waitApproval(sha)
	h.pressVisible(dep, checks.ActionCancel, "alice")
	dep = h.waitFinal(sha, 2*time.Minute)
	if dep.Status != store.StatusCanceled || !strings.Contains(dep.Error, "Cancelled by alice") || !strings.Contains(dep.Error, "rolled back to revision 1") {
		t.Fatalf("deployment %s: %q, want CANCELED by alice, rolled back to revision 1", dep.Status, dep.Error)
	}
	if st := h.ecsState(); st.Deployments[0].Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful {
		t.Errorf("ECS service deployment %s, want ROLLBACK_SUCCESSFUL", st.Deployments[0].Status)
	}
	if calls := h.continueCalls(); len(calls) != 0 {
		t.Errorf("ContinueServiceDeployment calls %v after a cancel, want none", calls)
	}
}

package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/command"
	"github.com/pandadeploy/panda/conversation"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/rollout"
	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// Approval (.panda.yml approval). The shipped definition adds a PAUSE hook
// at POST_TEST_TRAFFIC_SHIFT and, when ECS holds the deployment there, passes
// through rollout.AwaitState without answering it. The follow task reads that
// state's output (the hook, the test URL), records the wait on the
// deployment, shows it (event, Approve and Reject on the controls run), and
// answers the hook itself with ContinueServiceDeployment once someone allowed
// has answered (the answer is written on the record by the check_run or
// comment handler) or the approval's timeout has passed. ECS then moves
// production traffic or rolls back, and the execution follows it to its end.
// Panda answers rather than a task token because ECS's hook is what holds
// the traffic: if Panda never answers, the hook's own timeout (the
// approval's plus 15 minutes, action ROLLBACK) still rolls back.

// approvalTimeout is how long dep's rollout waits for an answer.
func approvalTimeout(dep *store.Deployment) time.Duration {
	if a := dep.Target.Approval; a != nil && a.TimeoutMinutes > 0 {
		return time.Duration(a.TimeoutMinutes) * time.Minute
	}
	return repoconfig.DefaultApprovalTimeout
}

// approvalInput is the execution input's approval: the timeout, which the
// definition adds to the PAUSE hook's.
func approvalInput(a *store.Approval) *rollout.Approval {
	if a == nil {
		return nil
	}
	return &rollout.Approval{TimeoutMinutes: a.TimeoutMinutes}
}

// approval acts on the hook cur.Awaiting names, once per follow task: it
// announces the wait the first time, then gives ECS the recorded answer, or
// ROLLBACK once the timeout has passed. It changes cur (the answer given)
// and returns an error only for a retry.
func (d *Deployer) approval(ctx context.Context, rc Rollout, dep *store.Deployment, cur *rollout.Cursor) error {
	w := cur.Awaiting
	if w == nil || w.Action != "" || dep.Target.Approval == nil {
		return nil
	}
	if dep.Approval == nil {
		var err error
		if dep, err = d.awaitApproval(ctx, dep, w); err != nil {
			return err
		}
	}
	if !w.Shown {
		d.showApproval(ctx, dep, checks.Approval{})
		w.Shown = true
	}
	a := dep.Approval
	timeout := approvalTimeout(dep)
	switch {
	case !a.Answered.IsZero() && a.Approved:
		return d.answerHook(ctx, rc, dep, w, ecstypes.DeploymentLifecycleHookActionContinue, "approved", a.By,
			fmt.Sprintf("Approved by @%s: production traffic moves to the new revision", a.By))
	case !a.Answered.IsZero():
		return d.answerHook(ctx, rc, dep, w, ecstypes.DeploymentLifecycleHookActionRollback, "rejected", a.By,
			fmt.Sprintf("Rejected by @%s: the new revision is rolled back and the previous one keeps serving", a.By))
	case d.now().Sub(a.Since) > timeout:
		return d.answerHook(ctx, rc, dep, w, ecstypes.DeploymentLifecycleHookActionRollback, "timed_out", "",
			fmt.Sprintf("No approval within %s: the new revision is rolled back and the previous one keeps serving", minutes(timeout)))
	}
	return nil
}

// awaitApproval records on dep that its rollout waits for an answer, from now.
func (d *Deployer) awaitApproval(ctx context.Context, dep *store.Deployment, w *rollout.Awaiting) (*store.Deployment, error) {
	now := d.now()
	updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		if x.Approval == nil {
			x.Approval = &store.ApprovalState{Since: now, TestURL: w.TestURL}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record the approval wait of %s: %w", dep.ID, err)
	}
	return updated, nil
}

// showApproval shows the wait, or its answer when a.Answer is set.
func (d *Deployer) showApproval(ctx context.Context, dep *store.Deployment, a checks.Approval) {
	st := dep.Approval
	a.TestURL, a.Until = st.TestURL, st.Since.Add(approvalTimeout(dep))
	a.Approvers = conversation.Approvers(dep.Target.Approval)
	if a.Answer == "" {
		ev := events.ApprovalWaiting{TestURL: a.TestURL, Approvers: a.Approvers, Until: a.Until}
		d.event(ctx, dep, ev)
		d.checkErr(dep, "log", d.Checks.Log(ctx, dep, string(pipeline.StageDeploy), ev.Event().Message))
	}
	d.checkErr(dep, "approval", d.Checks.Approval(ctx, dep, a))
}

// answerHook gives ECS the answer and records who gave it: in the event
// stream, on the controls run and the deploy run's log, and in the audit log.
func (d *Deployer) answerHook(ctx context.Context, rc Rollout, dep *store.Deployment, w *rollout.Awaiting, action ecstypes.DeploymentLifecycleHookAction, outcome, by, msg string) error {
	if err := rc.Answer(ctx, *w, action); err != nil {
		return d.stageFailed(ctx, dep, pipeline.StageDeploy, err)
	}
	w.Action, w.Why, w.TimedOut = string(action), msg, outcome == "timed_out"
	d.event(ctx, dep, events.ApprovalAnswered{Approved: outcome == "approved", Actor: by, TimedOut: outcome == "timed_out", Message: msg})
	d.checkErr(dep, "log", d.Checks.Log(ctx, dep, string(pipeline.StageDeploy), msg))
	d.showApproval(ctx, dep, checks.Approval{Answer: msg})
	e := audit.ForDeployment(dep, audit.ApprovalAnswered, outcome)
	e.Actor, e.Reason = by, msg
	d.Life.Audited(ctx, e)
	d.Logger.Info("approval answered", "deployment_id", dep.ID, "outcome", outcome, "actor", by)
	return nil
}

// approvalEnd is what a rollout that ECS rolled back after Panda answered
// ROLLBACK ends with: the answer's words and the status (TIMEOUT when
// nobody answered in time), or ok false for any other end.
func approvalEnd(cur rollout.Cursor) (msg string, status store.Status, ok bool) {
	w := cur.Awaiting
	if w == nil || w.Action != string(ecstypes.DeploymentLifecycleHookActionRollback) {
		return "", "", false
	}
	status = store.StatusFailed
	if w.TimedOut {
		status = store.StatusTimeout
	}
	return w.Why, status, true
}

// errNotWaiting says a deployment does not wait for an approval (any more).
var errNotWaiting = errors.New("the deployment does not wait for an approval")

// AnswerApproval records actor's answer to dep's approval, which the follow
// task gives ECS at its next poll. The caller has checked that actor may
// answer (conversation.MayAnswer). It returns what to tell actor: the
// answer taken, or why it was not (not waiting, answered before).
func (d *Deployer) AnswerApproval(ctx context.Context, dep *store.Deployment, approve bool, actor string) (string, error) {
	var earlier *store.ApprovalState
	_, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		earlier = nil // fn may run again after a concurrent write
		switch {
		case x.Approval == nil:
			return errNotWaiting
		case !x.Approval.Answered.IsZero():
			a := *x.Approval
			earlier = &a
			return nil
		}
		x.Approval.Approved, x.Approval.By, x.Approval.Answered = approve, actor, d.now()
		return nil
	})
	switch {
	case errors.Is(err, errNotWaiting), errors.Is(err, store.ErrFinal):
		return fmt.Sprintf("%s of `%s` to **%s** does not wait for an approval, so Panda did nothing.", dep.ID, names.ShortSHA(dep.SHA), dep.Environment), nil
	case err != nil:
		return "", fmt.Errorf("answer the approval of %s: %w", dep.ID, err)
	case earlier != nil:
		verb := "rejected"
		if earlier.Approved {
			verb = "approved"
		}
		return fmt.Sprintf("%s of `%s` to **%s** was already %s by @%s, so Panda did nothing.", dep.ID, names.ShortSHA(dep.SHA), dep.Environment, verb, earlier.By), nil
	case approve:
		return fmt.Sprintf("Approved %s of `%s` to **%s**: production traffic moves to it.", dep.ID, names.ShortSHA(dep.SHA), dep.Environment), nil
	}
	return fmt.Sprintf("Rejected %s of `%s` to **%s**: it is rolled back, and the previous revision keeps serving.", dep.ID, names.ShortSHA(dep.SHA), dep.Environment), nil
}

// minutes renders d for people: "60 minutes", "1 minute".
func minutes(d time.Duration) string {
	if n := int(d.Minutes()); n != 1 {
		return fmt.Sprintf("%d minutes", n)
	}
	return "1 minute"
}

// pressApproval answers a press on Approve or Reject on dep's controls run.
// Who may answer is the approval's rule (conversation.MayAnswer), not only
// write access: a named approver answers, the pusher alone never approves.
// A refusal, and an answer that changed nothing, are written on the
// controls run, the one place GitHub lets Panda answer a button.
func (h *GitHubHandler) pressApproval(ctx context.Context, gh *github.Client, dep *store.Deployment, p tasks.CheckRunPayload) error {
	approve := p.Identifier == checks.ActionApprove
	ok, why, err := conversation.MayAnswer(ctx, gh, dep, p.Sender, approve)
	if err != nil {
		return err
	}
	if !ok {
		h.Logger.Info("approval answer refused", "deployment_id", dep.ID, "sender", p.Sender, "approve", approve)
		h.refusePress(ctx, dep, fmt.Sprintf("@%s, %s, so Panda did nothing.", p.Sender, why))
		return nil
	}
	msg, err := h.Deployer.AnswerApproval(ctx, dep, approve, p.Sender)
	if err != nil {
		return err
	}
	if strings.HasSuffix(msg, "so Panda did nothing.") {
		h.refusePress(ctx, dep, msg)
	}
	return nil
}

// commentApproval answers "/deploy approve|reject [environment]" on a pull
// request: it answers the approvals its deployments (those its comments
// started, and those of its head commit) wait for, to the environment
// named or to all, and returns the reply.
func (h *GitHubHandler) commentApproval(ctx context.Context, gh *github.Client, p tasks.CommentPayload, cmd command.Command) (string, error) {
	verb := command.RejectWord
	if cmd.Approve {
		verb = command.ApproveWord
	}
	if !p.PullRequest {
		return fmt.Sprintf("Panda answers the approvals of pull requests' deployments: comment `/deploy %s` on the pull request. Nothing was answered.", verb), nil
	}
	owner, name, _ := strings.Cut(p.Repo, "/")
	pr, _, err := gh.PullRequests.Get(ctx, owner, name, p.Issue)
	if err != nil {
		return "", conversation.Err(fmt.Sprintf("read pull request %s#%d", p.Repo, p.Issue), err)
	}
	running, err := h.runningFor(ctx, p, pr.GetHead().GetSHA(), cmd.Environment)
	if err != nil {
		return "", err
	}
	var replies []string
	for _, dep := range running {
		if dep.Approval == nil || !dep.Approval.Answered.IsZero() {
			continue
		}
		ok, why, err := conversation.MayAnswer(ctx, gh, dep, p.Author, cmd.Approve)
		if err != nil {
			return "", err
		}
		if !ok {
			replies = append(replies, fmt.Sprintf("@%s, %s, so Panda did not answer the approval of %s.", p.Author, why, dep.ID))
			continue
		}
		msg, err := h.Deployer.AnswerApproval(ctx, dep, cmd.Approve, p.Author)
		if err != nil {
			return "", err
		}
		replies = append(replies, msg)
	}
	if len(replies) == 0 {
		where := ""
		if cmd.Environment != "" {
			where = " to **" + cmd.Environment + "**"
		}
		return "No deployment of this pull request" + where + " waits for an approval, so there is nothing to answer.", nil
	}
	return strings.Join(replies, "\n\n"), nil
}

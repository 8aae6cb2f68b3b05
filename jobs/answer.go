package jobs

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/command"
	"github.com/pandadeploy/panda/conversation"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

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

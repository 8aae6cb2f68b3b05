package jobs

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/command"
	"github.com/pandadeploy/panda/conversation"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// commentCancel answers "/deploy cancel [environment]" on a pull request: it
// cancels the running deployments of the pull request (those its /deploy
// comments started, and those of its head commit), to the environment named
// or to all, and returns the reply. Only people who may deploy may cancel.
func (h *GitHubHandler) commentCancel(ctx context.Context, gh *github.Client, p tasks.CommentPayload, cmd command.Command) (string, error) {
	if !p.PullRequest {
		return "Panda cancels the deployments of pull requests: comment `/deploy cancel` on the pull request. Nothing was cancelled.", nil
	}
	ok, err := conversation.MayDeploy(ctx, gh, p.Repo, p.Author)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("@%s, only people with write access to %s can cancel its deployments, so Panda cancelled nothing.", p.Author, p.Repo), nil
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
	if len(running) == 0 {
		where := ""
		if cmd.Environment != "" {
			where = " to **" + cmd.Environment + "**"
		}
		return "No deployment of this pull request" + where + " is running, so there is nothing to cancel.", nil
	}
	var done []string
	for _, dep := range running {
		if err := h.Deployer.Cancel(ctx, dep, p.Author); err != nil {
			return "", err
		}
		done = append(done, fmt.Sprintf("%s of `%s` to **%s**", dep.ID, names.ShortSHA(dep.SHA), dep.Environment))
	}
	return "Cancelled " + strings.Join(done, ", ") + ".", nil
}

// runningFor lists the deployments of p's pull request that have not ended:
// those started by a comment on it, and those of its head commit headSHA,
// to env only when env is set. A deployment ended since (by this very
// command's earlier attempt) no longer counts; Cancel is idempotent anyway.
func (h *GitHubHandler) runningFor(ctx context.Context, p tasks.CommentPayload, headSHA, env string) ([]*store.Deployment, error) {
	list, err := h.Store.List(ctx, store.Filter{Repo: p.Repo, Limit: 200})
	if err != nil {
		return nil, err
	}
	var out []*store.Deployment
	for _, dep := range list {
		ours := dep.PullRequest == p.Issue || (headSHA != "" && dep.SHA == headSHA)
		if ours && !dep.Status.Final() && dep.InstallationID == p.InstallationID && (env == "" || dep.Environment == env) {
			out = append(out, dep)
		}
	}
	return out, nil
}

// refusePress tells the person whose press was refused why, in the text of
// dep's controls run, where GitHub shows it (GitHub offers no other place to
// answer a button). A failure to say so is logged: the refusal stands.
func (h *GitHubHandler) refusePress(ctx context.Context, dep *store.Deployment, why string) {
	if err := h.Deployer.Checks.Refuse(ctx, dep, why); err != nil {
		h.Logger.Warn("could not show a refusal on the controls run", "deployment_id", dep.ID, "err", err)
	}
}

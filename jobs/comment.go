package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-github/v66/github"
	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/command"
	"github.com/pandadeploy/panda/conversation"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// HandleComment answers a /deploy comment on a pull request: it reacts 👀 at
// once, checks that the author may deploy and that the pull request is not
// from a fork, deploys the pull request's head commit to the environment
// named (or the .panda.yml default), and replies with a link to the
// deployment; the deployment's end reacts 🚀 or 😕 on the comment. Anything
// that stops it (an issue, a reader, a fork, an unknown environment) is a
// reply saying why, and nothing runs. Replies are posted once per delivery,
// however often the task is retried, and the deployment is claimed by the
// delivery, so a retry never deploys twice.
func (h *GitHubHandler) HandleComment(ctx context.Context, t *asynq.Task) error {
	var p tasks.CommentPayload
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	log := h.Logger.With("delivery_id", p.Delivery.ID, "installation_id", p.InstallationID, "repo", p.Repo)
	if err := names.Repo(p.Repo); err != nil || p.Issue <= 0 || p.CommentID <= 0 {
		log.Warn("comment refused", "err", err, "issue", p.Issue)
		return fmt.Errorf("comment refused: malformed payload: %w", asynq.SkipRetry)
	}
	cmd, ok := command.Parse(p.Command)
	if !ok {
		log.Info("not a /deploy command")
		return nil
	}
	gh, err := h.GitHub.Client(ctx, p.InstallationID)
	if err != nil {
		return fmt.Errorf("github client for installation %d: %w", p.InstallationID, err)
	}
	// React before anything slow: the author sees at once that Panda took it.
	if err := conversation.React(ctx, gh, p.Repo, p.CommentID, conversation.ReactionSeen); err != nil {
		log.Warn("react to comment", "err", err)
	}
	msg, err := h.commentDeploy(ctx, gh, p, cmd)
	if err != nil {
		return err
	}
	log.Info("answered /deploy", "author", p.Author, "issue", p.Issue)
	return conversation.Reply(ctx, h.Store, gh, p.Repo, p.Issue, "comment:"+p.Delivery.TaskID(), msg)
}

// commentDeploy deploys what the comment asks for when it may, and returns
// the reply: the link to the deployment, or why nothing was deployed.
func (h *GitHubHandler) commentDeploy(ctx context.Context, gh *github.Client, p tasks.CommentPayload, cmd command.Command) (string, error) {
	if cmd.Cancel {
		return h.commentCancel(ctx, gh, p, cmd)
	}
	if cmd.Approve || cmd.Reject {
		return h.commentApproval(ctx, gh, p, cmd)
	}
	switch {
	case !p.PullRequest:
		return "Panda deploys pull requests: comment `/deploy` on a pull request to deploy its head commit. Nothing was deployed.", nil
	case cmd.Problem != "":
		return cmd.Problem + " Nothing was deployed.", nil
	}
	ok, err := conversation.MayDeploy(ctx, gh, p.Repo, p.Author)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("@%s, only people with write access to %s can deploy it, so Panda did not deploy anything. Ask a maintainer to comment `/deploy` for you.", p.Author, p.Repo), nil
	}
	if cmd.Force {
		// Breaking a freeze is an admin's call; a writer hears why not.
		admin, err := conversation.IsAdmin(ctx, gh, p.Repo, p.Author)
		if err != nil {
			return "", err
		}
		if !admin {
			return fmt.Sprintf("@%s, only admins of %s can deploy through a freeze with `--force`, so Panda did not deploy anything. Comment `/deploy` without `--force` to deploy when the freeze ends.", p.Author, p.Repo), nil
		}
	}
	pr, refusal, err := h.pullToDeploy(ctx, gh, p)
	if err != nil || refusal != "" {
		return refusal, err
	}
	sha := pr.GetHead().GetSHA()
	env, refusal, err := environmentFor(ctx, gh, p.Repo, sha, cmd)
	if err != nil || refusal != "" {
		return refusal, err
	}
	dep := &store.Deployment{
		Repo: p.Repo, InstallationID: p.InstallationID, SHA: sha, Branch: headBranch(pr, p.Repo),
		Environment: env.Name, Trigger: deployment.TriggerComment, Actor: p.Author, DeliveryID: p.Delivery.ID,
		PullRequest: p.Issue, CommentID: p.CommentID, Target: deployment.TargetOf(env),
	}
	if cmd.Force {
		dep.ForcedBy = p.Author
		h.Logger.Warn("/deploy --force accepted", "actor", p.Author, "repo", p.Repo, "delivery_id", p.Delivery.ID)
	}
	dep, err = h.Deployer.Life.Accept(ctx, "comment:"+p.Delivery.TaskID(), dep)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Deploying `%s` to **%s** as %s", names.ShortSHA(dep.SHA), dep.Environment, dep.ID)
	if u := h.Deployer.Life.PageURL(dep.ID); u != "" {
		msg += ": follow it at " + u
	}
	return msg + ".", nil
}

// pullToDeploy reads the pull request. It refuses (with a reply) a pull
// request from a fork unless AllowForks is set, and a closed one.
func (h *GitHubHandler) pullToDeploy(ctx context.Context, gh *github.Client, p tasks.CommentPayload) (*github.PullRequest, string, error) {
	owner, name, _ := strings.Cut(p.Repo, "/")
	pr, _, err := gh.PullRequests.Get(ctx, owner, name, p.Issue)
	if err != nil {
		return nil, "", conversation.Err(fmt.Sprintf("read pull request %s#%d", p.Repo, p.Issue), err)
	}
	head := pr.GetHead().GetRepo().GetFullName()
	switch {
	case !strings.EqualFold(head, p.Repo) && !h.AllowForks:
		// A fork's commits were pushed by someone without write access; a
		// writer's comment is not a review of every line they contain.
		return nil, "This pull request comes from a fork, and Panda does not deploy forks' code. Push the branch to this repository to deploy it.", nil
	case pr.GetState() != "open":
		return nil, "This pull request is closed, so Panda did not deploy it.", nil
	case names.SHA(pr.GetHead().GetSHA()) != nil:
		return nil, "", fmt.Errorf("pull request %s#%d has a malformed head SHA: %w", p.Repo, p.Issue, asynq.SkipRetry)
	}
	return pr, "", nil
}

// headBranch is the branch to fetch the head commit through when the server
// will not serve it by SHA: only a branch of the repository itself.
func headBranch(pr *github.PullRequest, repo string) string {
	ref := pr.GetHead().GetRef()
	if !strings.EqualFold(pr.GetHead().GetRepo().GetFullName(), repo) || names.Branch(ref) != nil {
		return ""
	}
	return ref
}

// environmentFor finds the environment cmd names (or the default one) in the
// .panda.yml at sha. A refusal is the reply when there is none.
func environmentFor(ctx context.Context, gh *github.Client, repo, sha string, cmd command.Command) (repoconfig.Env, string, error) {
	cfg, found, err := deployment.ReadConfig(ctx, gh, repo, sha)
	switch {
	case err != nil && pipeline.IsPermanent(err):
		return repoconfig.Env{}, fmt.Sprintf("The `.panda.yml` at %s is invalid, so Panda did not deploy it: %s", names.ShortSHA(sha), pipeline.UserMessage(err, "")), nil
	case err != nil:
		return repoconfig.Env{}, "", err
	case !found:
		return repoconfig.Env{}, fmt.Sprintf("There is no `.panda.yml` at %s, so Panda does not know where to deploy it.", names.ShortSHA(sha)), nil
	}
	env, err := deployment.Resolve(cfg, cmd.Environment)
	var envErr *deployment.EnvError
	if !errors.As(err, &envErr) {
		return env, "", err
	}
	valid := "`" + strings.Join(envErr.Valid, "`, `") + "`"
	if envErr.Problem == deployment.NoDefault {
		return repoconfig.Env{}, fmt.Sprintf("Name an environment: `/deploy <environment>`, one of %s.", valid), nil
	}
	return repoconfig.Env{}, fmt.Sprintf("There is no environment `%s` in `.panda.yml`. Valid environments: %s.", envErr.Name, valid), nil
}

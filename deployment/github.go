package deployment

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/conversation"

	"github.com/pandadeploy/panda/store"
)

// GitHub Deployment states Panda reports, as GitHub spells them.
const (
	ghInProgress = "in_progress"
	ghSuccess    = "success"
	ghFailure    = "failure"
	ghError      = "error"
	ghInactive   = "inactive"
)

// maxStatusDescription is GitHub's limit on a deployment status description.
const maxStatusDescription = 140

// openGitHubDeployment creates the GitHub Deployment that shows dep on the
// repository's environments page, once (its id is kept in the record), and
// returns the record with the id. It never fails dep: GitHub being down must
// not stop a rollout, so failures are logged and dep goes on without one.
func (d *Service) openGitHubDeployment(ctx context.Context, dep *store.Deployment) *store.Deployment {
	if d.GitHub == nil || dep.GitHubDeploymentID != 0 {
		return dep
	}
	log := d.Logger.With("deployment_id", dep.ID, "repo", dep.Repo, "sha", dep.SHA)
	gh, err := d.GitHub.Client(ctx, dep.InstallationID)
	if err != nil {
		log.Warn("create GitHub deployment", "err", err)
		return dep
	}
	owner, name, _ := strings.Cut(dep.Repo, "/")
	gd, _, err := gh.Repositories.CreateDeployment(ctx, owner, name, &github.DeploymentRequest{
		Ref:         github.String(dep.SHA),
		Task:        github.String("deploy"),
		Environment: github.String(dep.Environment),
		Description: github.String(fmt.Sprintf("%s by %s (%s)", dep.ID, firstNonEmpty(dep.Actor, "Panda"), dep.Trigger)),
		// Panda deploys exactly this commit, whatever its other checks say:
		// merging the default branch in or waiting for contexts would deploy
		// something else or nothing at all.
		AutoMerge:            github.Bool(false),
		RequiredContexts:     &[]string{},
		TransientEnvironment: github.Bool(false),
		Payload:              map[string]string{"pandaDeploymentId": dep.ID},
	})
	if err != nil {
		log.Warn("create GitHub deployment", "err", err)
		return dep
	}
	updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		x.GitHubDeploymentID = gd.GetID()
		return nil
	})
	if err != nil {
		log.Warn("record GitHub deployment", "github_deployment_id", gd.GetID(), "err", err)
		return dep
	}
	return updated
}

// deploymentStatus adds a status to dep's GitHub Deployment, if it has one.
// A success makes the environment's earlier successful deployments inactive
// (auto_inactive), so the environment shows one active deployment.
func (d *Service) deploymentStatus(ctx context.Context, dep *store.Deployment, state, description string) error {
	if d.GitHub == nil || dep.GitHubDeploymentID == 0 {
		return nil
	}
	req := &github.DeploymentStatusRequest{
		State:       github.String(state),
		Description: github.String(shortenRunes(description, maxStatusDescription)),
	}
	if u := d.PageURL(dep.ID); u != "" {
		req.LogURL = github.String(u)
	}
	if dep.GreenURL != "" && state == ghSuccess {
		req.EnvironmentURL = github.String(dep.GreenURL)
	}
	if state == ghSuccess {
		req.AutoInactive = github.Bool(true)
	}
	gh, err := d.GitHub.Client(ctx, dep.InstallationID)
	if err != nil {
		return err
	}
	owner, name, _ := strings.Cut(dep.Repo, "/")
	if _, _, err = gh.Repositories.CreateDeploymentStatus(ctx, owner, name, dep.GitHubDeploymentID, req); err != nil {
		return fmt.Errorf("GitHub deployment status %s: %w", state, err)
	}
	return nil
}

// Running marks dep's GitHub Deployment in progress: its stages have begun.
// A failure is logged only: progress may be lost, final updates may not.
func (d *Service) Running(ctx context.Context, dep *store.Deployment) {
	if err := d.deploymentStatus(ctx, dep, ghInProgress, "Deploying "+Short(dep.SHA)+" to "+dep.Environment); err != nil {
		d.Logger.Warn("GitHub deployment status", "deployment_id", dep.ID, "err", err)
	}
}

// react puts 🚀 or 😕 on the /deploy comment dep came from, if any.
func (d *Service) react(ctx context.Context, dep *store.Deployment) error {
	if dep.CommentID == 0 || d.GitHub == nil {
		return nil
	}
	content := conversation.ReactionFailure
	if dep.Status == store.StatusSucceeded {
		content = conversation.ReactionSuccess
	}
	gh, err := d.GitHub.Client(ctx, dep.InstallationID)
	if err != nil {
		return err
	}
	return conversation.React(ctx, gh, dep.Repo, dep.CommentID, content)
}

// endState maps a final status to a GitHub Deployment state. A deployment
// that was cancelled or superseded is inactive: it does not run in the
// environment and nothing broke. A timeout is an error (Panda could not tell
// how it ended); only a rollout that failed is a failure.
func endState(dep *store.Deployment) (state, description string) {
	switch dep.Status {
	case store.StatusSucceeded:
		return ghSuccess, "Deployed " + Short(dep.SHA) + " to " + dep.Environment
	case store.StatusTimeout:
		return ghError, firstNonEmpty(dep.Error, "The deployment timed out")
	case store.StatusCanceled, store.StatusSuperseded:
		return ghInactive, firstNonEmpty(dep.Error, "Not deployed")
	}
	return ghFailure, firstNonEmpty(dep.Error, "The deployment failed")
}

func shortenRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

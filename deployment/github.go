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
	// A deployment through a token connection (no installation) reports as
	// commit statuses only: see package commitstatus.
	if d.GitHub == nil || dep.GitHubDeploymentID != 0 || dep.InstallationID == 0 {
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
// (auto_inactive), so the environment shows one active deployment. Failures
// are logged only.
func (d *Service) deploymentStatus(ctx context.Context, dep *store.Deployment, state, description string) {
	if d.GitHub == nil || dep.GitHubDeploymentID == 0 {
		return
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
	err := func() error {
		gh, err := d.GitHub.Client(ctx, dep.InstallationID)
		if err != nil {
			return err
		}
		owner, name, _ := strings.Cut(dep.Repo, "/")
		_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, owner, name, dep.GitHubDeploymentID, req)
		return err
	}()
	if err != nil {
		d.Logger.Warn("GitHub deployment status", "deployment_id", dep.ID, "state", state, "err", err)
	}
}

// Running marks dep's GitHub Deployment in progress: its stages have begun.
func (d *Service) Running(ctx context.Context, dep *store.Deployment) {
	d.deploymentStatus(ctx, dep, ghInProgress, "Deploying "+Short(dep.SHA)+" to "+dep.Environment)
}

// reportEnd shows a final deployment on GitHub beyond its check runs: the
// GitHub Deployment's last status and, for a /deploy comment, 🚀 or 😕 on the
// comment. Failures are logged only.
func (d *Service) reportEnd(ctx context.Context, dep *store.Deployment) {
	state, desc := endState(dep)
	d.deploymentStatus(ctx, dep, state, desc)
	if dep.CommentID == 0 || d.GitHub == nil {
		return
	}
	content := conversation.ReactionFailure
	if dep.Status == store.StatusSucceeded {
		content = conversation.ReactionSuccess
	}
	gh, err := d.GitHub.Client(ctx, dep.InstallationID)
	if err == nil {
		err = conversation.React(ctx, gh, dep.Repo, dep.CommentID, content)
	}
	if err != nil {
		d.Logger.Warn("react to the end of a deployment", "deployment_id", dep.ID, "err", err)
	}
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

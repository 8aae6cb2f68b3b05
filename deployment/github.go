package deployment

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/conversation"
	"github.com/pandadeploy/panda/ghtext"
	"github.com/pandadeploy/panda/names"
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

// maxStatusDescription is GitHub's limit on a deployment status description,
// applied in bytes: the stricter reading of "characters", as GitHub counts
// its other text limits.
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
	// An earlier attempt may have created it without hearing back (a 502
	// after the create, a crash before the record): look before creating.
	gd, err := findGitHubDeployment(ctx, gh, dep)
	if err == nil && gd == nil {
		gd, err = createGitHubDeployment(ctx, gh, owner, name, dep)
	}
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

// createGitHubDeployment creates dep's GitHub Deployment; after a transient
// failure it looks once more, since GitHub may have created it behind the
// error.
func createGitHubDeployment(ctx context.Context, gh *github.Client, owner, name string, dep *store.Deployment) (*github.Deployment, error) {
	gd, _, err := gh.Repositories.CreateDeployment(ctx, owner, name, &github.DeploymentRequest{
		Ref:         github.String(dep.SHA),
		Task:        github.String("deploy"),
		Environment: github.String(dep.Environment),
		Description: github.String(fmt.Sprintf("%s by %s (%s)", dep.ID, cmp.Or(dep.Actor, "Panda"), dep.Trigger)),
		// Panda deploys exactly this commit, whatever its other checks say:
		// merging the default branch in or waiting for contexts would deploy
		// something else or nothing at all.
		AutoMerge:            github.Bool(false),
		RequiredContexts:     &[]string{},
		TransientEnvironment: github.Bool(false),
		Payload:              map[string]string{payloadKey: dep.ID},
	})
	if err == nil || checks.IsPermanent(err) {
		return gd, err
	}
	if found, ferr := findGitHubDeployment(ctx, gh, dep); ferr == nil && found != nil {
		return found, nil
	}
	return nil, err
}

// payloadKey names the Panda deployment in a GitHub Deployment's payload.
const payloadKey = "pandaDeploymentId"

// findGitHubDeployment returns dep's GitHub Deployment, found by its commit,
// environment and payload, or nil when there is none. Deployments of one
// commit and environment are few: the first page is enough.
func findGitHubDeployment(ctx context.Context, gh *github.Client, dep *store.Deployment) (*github.Deployment, error) {
	owner, name, _ := strings.Cut(dep.Repo, "/")
	list, _, err := gh.Repositories.ListDeployments(ctx, owner, name, &github.DeploymentsListOptions{
		SHA: dep.SHA, Environment: dep.Environment, ListOptions: github.ListOptions{PerPage: 100},
	})
	if err != nil {
		return nil, fmt.Errorf("list GitHub deployments of %s: %w", dep.SHA, err)
	}
	for _, gd := range list {
		var p map[string]any
		if json.Unmarshal(gd.Payload, &p) == nil && p[payloadKey] == dep.ID {
			return gd, nil
		}
	}
	return nil, nil
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
		Description: github.String(ghtext.Head(description, maxStatusDescription)),
	}
	if u := d.PageURL(dep.ID); u != "" {
		req.LogURL = github.String(u)
	}
	// The environment's URL is production's listener (the state machine's
	// blueServiceUrl, alias productionUrl), not the test listener.
	if dep.BlueURL != "" && state == ghSuccess {
		req.EnvironmentURL = github.String(dep.BlueURL)
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
	if err := d.deploymentStatus(ctx, dep, ghInProgress, "Deploying "+names.ShortSHA(dep.SHA)+" to "+dep.Environment); err != nil {
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
		return ghSuccess, "Deployed " + names.ShortSHA(dep.SHA) + " to " + dep.Environment
	case store.StatusTimeout:
		return ghError, cmp.Or(dep.Error, "The deployment timed out")
	case store.StatusCanceled, store.StatusSuperseded:
		return ghInactive, cmp.Or(dep.Error, "Not deployed")
	}
	return ghFailure, cmp.Or(dep.Error, "The deployment failed")
}

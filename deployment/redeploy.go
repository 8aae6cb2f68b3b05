package deployment

import (
	"context"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// Triggers of the deployments made by hand, as records and events name them.
const (
	TriggerPush     = "push"
	TriggerComment  = "comment"
	TriggerAPI      = "api"
	TriggerRerun    = "rerun"
	TriggerRollback = "rollback"
)

// Redeploy deploys from's commit to from's environment again, with the same
// target, as a new deployment claimed by claim (so a retried request makes
// one). It rebuilds: an image is only reused by a rollback.
func (d *Service) Redeploy(ctx context.Context, claim string, from *store.Deployment, actor string) (*store.Deployment, error) {
	dep := &store.Deployment{
		Repo: from.Repo, InstallationID: from.InstallationID, SHA: from.SHA, Branch: from.Branch,
		Environment: from.Environment, Trigger: TriggerRerun, Actor: actor, Target: from.Target,
	}
	return d.Accept(ctx, claim, dep)
}

// Rollback redeploys the image that ran in from's environment before from,
// without rebuilding, as a new deployment claimed by claim. from must be a
// success and still what runs there (no newer success in the environment):
// rolling back anything else would not undo what the person pressing sees.
// The new deployment is of the earlier image's commit, so its record and
// check runs say what actually runs. Refusals are pipeline.UserError.
func (d *Service) Rollback(ctx context.Context, claim string, from *store.Deployment, actor string) (*store.Deployment, error) {
	if from.Status != store.StatusSucceeded {
		return nil, pipeline.UserError(nil, "only a successful deployment can be rolled back; %s is %s", from.ID, from.Status)
	}
	prev, err := d.previousImage(ctx, from)
	if err != nil {
		return nil, err
	}
	dep := &store.Deployment{
		Repo: from.Repo, InstallationID: from.InstallationID, SHA: prev.SHA, Branch: prev.Branch,
		Environment: from.Environment, Trigger: TriggerRollback, Actor: actor,
		ImageURI: prev.ImageURI, Target: from.Target,
	}
	return d.Accept(ctx, claim, dep)
}

// rollbackHistory bounds how many of a repository's successful deployments
// are looked through for the previous image.
const rollbackHistory = 200

// previousImage finds the newest successful deployment of from's environment
// made before from with another image.
func (d *Service) previousImage(ctx context.Context, from *store.Deployment) (*store.Deployment, error) {
	list, err := d.Store.List(ctx, store.Filter{Repo: from.Repo, Status: store.StatusSucceeded, Limit: rollbackHistory})
	if err != nil {
		return nil, err
	}
	live := true
	for _, dep := range list { // newest first
		if dep.Environment != from.Environment {
			continue
		}
		if live && dep.ID != from.ID && dep.ImageURI != from.ImageURI {
			return nil, pipeline.UserError(nil, "%s is no longer what runs in %s: %s replaced it", from.ID, from.Environment, dep.ID)
		}
		live = false
		if dep.CreatedAt.Before(from.CreatedAt) && dep.ImageURI != "" && dep.ImageURI != from.ImageURI {
			return dep, nil
		}
	}
	return nil, pipeline.UserError(nil, "%s has no earlier successful deployment with another image to roll back to", from.Environment)
}

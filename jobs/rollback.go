package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// Rollback redeploys the image that ran in from's environment before from,
// without rebuilding, as a new deployment claimed by claim. from must be a
// success and still what runs there (no newer success in the environment):
// rolling back anything else would not undo what the person pressing sees.
// The new deployment is of the earlier image's commit, so its record and
// check runs say what actually runs. Refusals are pipeline.UserError.
func (d *Deployer) Rollback(ctx context.Context, claim string, from *store.Deployment, actor string) (*store.Deployment, error) {
	if from.Status != store.StatusSucceeded {
		return nil, pipeline.UserError(nil, "only a successful deployment can be rolled back; %s is %s", from.ID, from.Status)
	}
	prev, err := d.previousImage(ctx, from)
	if err != nil {
		return nil, err
	}
	dep := &store.Deployment{
		Repo: from.Repo, InstallationID: from.InstallationID, SHA: prev.SHA, Branch: prev.Branch,
		Environment: from.Environment, Trigger: triggerRollback, Actor: actor,
		ImageURI: prev.ImageURI, Target: from.Target,
	}
	return d.Accept(ctx, claim, dep)
}

// rollbackHistory bounds how many of a repository's successful deployments
// are looked through for the previous image.
const rollbackHistory = 200

// previousImage finds the newest successful deployment of from's environment
// made before from with another image.
func (d *Deployer) previousImage(ctx context.Context, from *store.Deployment) (*store.Deployment, error) {
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

// reuseImage stands for the clone, build and push stages of a rollback, whose
// image exists already: they are recorded as taking no time and their check
// runs say what is deployed instead, as neutral (GitHub counts it as passing).
func (d *Deployer) reuseImage(ctx context.Context, dep *store.Deployment) (*store.Deployment, error) {
	updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		if x.StageDurations == nil {
			x.StageDurations = map[string]time.Duration{}
		}
		for _, s := range []pipeline.Stage{pipeline.StageClone, pipeline.StageBuild, pipeline.StagePush} {
			if _, ok := x.StageDurations[string(s)]; !ok {
				x.StageDurations[string(s)] = 0
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	title := fmt.Sprintf("Rolled back to %s: no rebuild needed", short(dep.SHA))
	summary := fmt.Sprintf("This deployment rolls **%s** back to the image built earlier from %s, so nothing was cloned, built or pushed:\n\n`%s`",
		dep.Environment, short(dep.SHA), dep.ImageURI)
	d.event(ctx, updated, store.Event{Type: store.EventStage, Message: "Rolling back to " + dep.ImageURI,
		Details: map[string]any{"phase": "rollback", "imageUri": dep.ImageURI}})
	for _, s := range []pipeline.Stage{pipeline.StageClone, pipeline.StageBuild, pipeline.StagePush} {
		d.checkErr(updated, "finish", d.Checks.Finish(ctx, updated, string(s),
			checks.Result{Conclusion: checks.ConclusionNeutral, Title: title, Summary: summary}))
	}
	return updated, nil
}

package jobs

import (
	"context"
	"fmt"

	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
)

// Accept records a new deployment under claim, creates its check runs, writes
// its first event and queues its build. claim names the intent (a delivery and
// an environment, an API request id), so accepting the same intent again (a
// retried task) returns the deployment the first call made and queues nothing
// new. Accept is what every trigger — push, comment, re-run, API — goes through.
func (d *Deployer) Accept(ctx context.Context, claim string, dep *store.Deployment) (*store.Deployment, error) {
	if dep.ID == "" {
		dep.ID = store.NewID()
	}
	dep.Status = store.StatusQueued
	dep, created, err := d.Store.Create(ctx, claim, dep)
	if err != nil {
		return nil, err
	}
	log := d.Logger.With("deployment_id", dep.ID, "repo", dep.Repo, "sha", dep.SHA, "installation_id", dep.InstallationID)
	if created {
		log.Info("deployment accepted", "environment", dep.Environment, "trigger", dep.Trigger)
		d.event(ctx, dep, store.Event{Type: store.EventStage, Message: fmt.Sprintf("Queued: deploy %s to %s", short(dep.SHA), dep.Environment),
			Details: map[string]any{"status": string(store.StatusQueued), "environment": dep.Environment, "sha": dep.SHA}})
	}
	if len(dep.CheckRuns) < 4 {
		ids, err := d.Checks.Queue(ctx, dep)
		d.checkErr(dep, "queue", err)
		if len(ids) > 0 {
			updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
				if x.CheckRuns == nil {
					x.CheckRuns = map[string]int64{}
				}
				for k, v := range ids {
					x.CheckRuns[k] = v
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			dep = updated
		}
	}
	dep = d.openGitHubDeployment(ctx, dep)
	if err := d.enqueue(ctx, NewBuildTask(dep.ID, d.buildTimeout())); err != nil {
		return nil, err
	}
	return dep, nil
}

// TargetOf turns an environment of .panda.yml into a deployment target.
func TargetOf(env repoconfig.Env) store.Target {
	return store.Target{
		Region:          env.Region,
		AWSConnection:   env.AWS,
		ECRRepository:   env.ECRRepository,
		StateMachineARN: env.StateMachineARN,
		Cluster:         env.Cluster,
		Service:         env.Service,
		TaskFamily:      env.TaskFamily,
		ContainerPort:   env.ContainerPort,
		DesiredCount:    env.DesiredCount,
		Dockerfile:      env.Dockerfile,
		Trigger:         string(env.Trigger),
		EventsRoleARN:   env.EventsRoleARN,
		BuildArgs:       env.BuildArgs,
		Submodules:      env.Submodules,
		BuildTarget:     env.Target,
		Platform:        env.Platform,
		BuildSecrets:    env.BuildSecrets,
	}
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

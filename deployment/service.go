// Package deployment is a deployment's life outside its stages: accepting one
// (the claim, the record, the check runs, the GitHub Deployment, the queued
// build), finishing one (the final status written once, the check runs
// concluded, the GitHub Deployment's last status, the environment freed), the
// ways a deployment is asked for by hand (the API, Re-run, Roll back), and the
// one resolver that picks a commit's environment from its .panda.yml.
//
// Both binaries use it: the app accepts manual deployments, the worker accepts
// pushes and comments and finishes everything. It needs no part of the
// pipeline's stages, so the app links none of them.
package deployment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// Enqueuer is what the service needs of *asynq.Client.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Checks is the part of the check-run lifecycle that opens and concludes a
// deployment's runs; *checks.Reporter has it. Its failures never fail a
// deployment: GitHub being down must not stop a rollout.
type Checks interface {
	Queue(ctx context.Context, d *store.Deployment) (map[string]int64, error)
	Finish(ctx context.Context, d *store.Deployment, stage string, r checks.Result) error
	Skip(ctx context.Context, d *store.Deployment, stages ...string) error
}

// Clients gives the GitHub client of an installation; *githubapp.Factory has it.
type Clients interface {
	Client(ctx context.Context, installationID int64) (*github.Client, error)
}

var _ Checks = (*checks.Reporter)(nil)

// Service accepts and finishes deployments. Its fields are set once, before
// use; its methods are safe for concurrent use.
type Service struct {
	Store  *store.Store
	Queue  Enqueuer
	Checks Checks
	// GitHub gives installation clients: .panda.yml, branches, GitHub
	// Deployments, reactions. If nil, no GitHub Deployment is made.
	GitHub Clients
	// PublicURL is PANDA_PUBLIC_URL: links on GitHub (replies, Deployment
	// statuses) point at PublicURL + "/deployments/" + the id. If empty, none.
	PublicURL string
	// BuildTimeout bounds the build task. If zero, 20 minutes.
	BuildTimeout time.Duration
	Logger       *slog.Logger
	// OnFinish, if set, is called once with each deployment that reached its
	// final status (for metrics).
	OnFinish func(*store.Deployment)
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

func (d *Service) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Service) buildTimeout() time.Duration {
	if d.BuildTimeout > 0 {
		return d.BuildTimeout
	}
	return 20 * time.Minute
}

// Accept records a new deployment under claim, creates its check runs, writes
// its first event and queues its build. claim names the intent (a delivery and
// an environment, an API request id), so accepting the same intent again (a
// retried task) returns the deployment the first call made and queues nothing
// new. Accept is what every trigger — push, comment, re-run, API — goes through.
func (d *Service) Accept(ctx context.Context, claim string, dep *store.Deployment) (*store.Deployment, error) {
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
		d.Event(ctx, dep, store.Event{Type: store.EventStage, Message: fmt.Sprintf("Queued: deploy %s to %s", Short(dep.SHA), dep.Environment),
			Details: map[string]any{"status": string(store.StatusQueued), "environment": dep.Environment, "sha": dep.SHA}})
	}
	if len(dep.CheckRuns) < 4 {
		ids, err := d.Checks.Queue(ctx, dep)
		d.CheckErr(dep, "queue", err)
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
	if err := d.enqueue(ctx, tasks.NewBuildTask(dep.ID, d.buildTimeout())); err != nil {
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
		HealthCheck:     healthCheckOf(env.HealthCheck),
	}
}

func healthCheckOf(hc *repoconfig.HealthCheck) *store.HealthCheck {
	if hc == nil {
		return nil
	}
	return &store.HealthCheck{Path: hc.Path, ExpectStatus: hc.ExpectStatus, TimeoutSeconds: hc.Timeout.Seconds(), Attempts: hc.Attempts}
}

// Event appends to the deployment's event stream. A lost event is logged, not
// fatal: the record, not the stream, is the truth about a deployment.
func (d *Service) Event(ctx context.Context, dep *store.Deployment, ev store.Event) {
	if _, err := d.Store.Append(ctx, dep.ID, ev); err != nil {
		d.Logger.Warn("append event", "deployment_id", dep.ID, "err", err)
	}
}

// enqueue queues a task; a TaskID conflict means an earlier attempt already
// queued it.
func (d *Service) enqueue(ctx context.Context, t *asynq.Task) error {
	if _, err := d.Queue.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// PageURL is the deployment's page, or "" without a public URL.
func (d *Service) PageURL(id string) string {
	if d.PublicURL == "" {
		return ""
	}
	return strings.TrimRight(d.PublicURL, "/") + "/deployments/" + id
}

// CheckErr logs a failed check-run update: it never fails a deployment.
func (d *Service) CheckErr(dep *store.Deployment, what string, err error) {
	if err != nil {
		d.Logger.Warn("check run update failed", "deployment_id", dep.ID, "what", what, "err", err)
	}
}

// Short is the seven-character form of a commit SHA people read.
func Short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

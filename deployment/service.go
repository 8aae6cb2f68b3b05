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

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/events"
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

// TokenClients gives the client of a repository's token connection, or
// connections.ErrNotFound; *connections.GitHubTokens has it.
type TokenClients interface {
	Client(ctx context.Context, repo string) (*github.Client, error)
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
	// Tokens gives clients of token connections, for deployments of
	// repositories without an installation (InstallationID 0). If nil, such
	// deployments are refused.
	Tokens TokenClients
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
	// Audit records accepted and finished deployments (package audit). If
	// nil, nothing is recorded.
	Audit Auditor
}

// Auditor is what the service needs of *audit.Log. [audit]
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (string, error)
}

// audit appends e, best effort: the decision is made and recorded in the
// deployment already, so a failed append is logged (with what it would have
// said, which holds no secret) rather than undoing it. [audit]
// Audited appends e to the audit log, if there is one; a failure is logged
// (the decision it records has been taken already).
func (d *Service) Audited(ctx context.Context, e audit.Entry) {
	if d.Audit == nil {
		return
	}
	if _, err := d.Audit.Append(ctx, e); err != nil {
		d.Logger.Error("audit append failed", "action", e.Action, "deployment_id", e.DeploymentID, "outcome", e.Outcome, "err", err)
	}
}

func (d *Service) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// BuildLimit is BuildTimeout, or its default: the build task's timeout adds
// the clone and the push to it.
func (d *Service) BuildLimit() time.Duration {
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
		d.Audited(ctx, audit.ForDeployment(dep, audit.DeploymentAccepted, "accepted")) // [audit]
		d.Event(ctx, dep, events.Queued{Environment: dep.Environment, SHA: dep.SHA})
	}
	if !checks.AllQueued(dep.CheckRuns) {
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
	if err := d.enqueue(ctx, tasks.NewBuildTask(dep.ID, d.BuildLimit())); err != nil {
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
		Scan:            scanGate(env.Scan),
		Freeze:          env.Freeze,
		FreezePolicy:    env.FreezePolicy,
		HealthCheck:     healthCheckOf(env.HealthCheck),
		Approval:        approvalOf(env.Approval),
	}
}

func approvalOf(a *repoconfig.Approval) *store.Approval {
	if a == nil {
		return nil
	}
	return &store.Approval{Users: a.Users, Teams: a.Teams, TimeoutMinutes: int(a.Timeout.Minutes())}
}

func scanGate(s *repoconfig.Scan) *store.ScanGate {
	if s == nil {
		return nil
	}
	return &store.ScanGate{FailOn: s.FailOn, Ignore: s.Ignore}
}

func healthCheckOf(hc *repoconfig.HealthCheck) *store.HealthCheck {
	if hc == nil {
		return nil
	}
	return &store.HealthCheck{Path: hc.Path, ExpectStatus: hc.ExpectStatus, TimeoutSeconds: hc.Timeout.Seconds(), Attempts: hc.Attempts}
}

// Event appends to the deployment's event stream. A lost event is logged, not
// fatal: the record, not the stream, is the truth about a deployment.
func (d *Service) Event(ctx context.Context, dep *store.Deployment, ev events.Kind) {
	if _, err := d.Store.Append(ctx, dep.ID, ev.Event()); err != nil {
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

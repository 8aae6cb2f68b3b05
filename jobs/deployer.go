// Package jobs holds the worker's Asynq task handlers: the webhook tasks
// (push, comment, check run, installation) and the deployment chain (build →
// start → follow), and NewServer, the one constructor that wires them into an
// Asynq server for cmd/worker and for every test that runs a worker.
//
// The task contract (types, payloads, TaskIDs) is package tasks; a
// deployment's acceptance and end are package deployment; the stages are
// pipeline/*. Handlers are idempotent: a retried or duplicated task finds the
// work its earlier attempt did instead of doing it twice.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/pipeline/rollout"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// Enqueuer is what jobs need of *asynq.Client.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Checks is the check-run lifecycle of a deployment's stages; *checks.Reporter
// has it. Its failures never fail a deployment: GitHub being down must not
// stop a rollout.
type Checks interface {
	Waiting(ctx context.Context, d *store.Deployment, behind string, position int) error
	Hold(ctx context.Context, d *store.Deployment, title, summary string) error
	Start(ctx context.Context, d *store.Deployment, stage string) error
	Log(ctx context.Context, d *store.Deployment, stage, line string) error
	Finish(ctx context.Context, d *store.Deployment, stage string, r checks.Result) error
	// Refuse tells, on d's controls run, why a press was refused.
	Refuse(ctx context.Context, d *store.Deployment, why string) error
	// Approval shows, on d's controls run, a rollout held for approval.
	Approval(ctx context.Context, d *store.Deployment, a checks.Approval) error
}

var (
	_ Checks  = (*checks.Reporter)(nil)
	_ Tokens  = (*githubapp.Factory)(nil)
	_ Builder = (*image.Builder)(nil)
	_ Pusher  = (*image.Pusher)(nil)
	_ Rollout = (*rollout.Client)(nil)
)

// Tokens gives repository-scoped installation tokens; *githubapp.Factory has it.
type Tokens interface {
	RepoToken(ctx context.Context, installationID int64, repo string) (githubapp.Token, error)
}

// Builder builds images; *image.Builder and *image.BuildkitBuilder have it.
type Builder interface {
	Build(ctx context.Context, req image.BuildRequest) (image.BuildResult, error)
}

// Pusher pushes images to ECR, or prepares the push of a builder that pushes
// itself; *image.Pusher has it.
type Pusher interface {
	Push(ctx context.Context, req image.PushRequest) (image.PushResult, error)
	Destination(ctx context.Context, repository string, tags []string) (image.Destination, error)
	Scan(ctx context.Context, repository, digest string) (image.ScanReport, error)
}

// Rollout starts and follows executions; *rollout.Client has it.
type Rollout interface {
	Start(ctx context.Context, req rollout.StartRequest) (string, error)
	Poll(ctx context.Context, executionARN string, cur rollout.Cursor) (rollout.Progress, error)
	Stop(ctx context.Context, executionARN, cause string) error
	RollBack(ctx context.Context, serviceDeploymentARN string) error
	DescribeDeployment(ctx context.Context, cluster, service, serviceDeploymentARN string) (rollout.ServiceDeployment, error)
	FindDeployment(ctx context.Context, cluster, service string) (string, error)
	ServiceEvents(ctx context.Context, cluster, service string, since time.Time) ([]string, error)
	EnsureRule(ctx context.Context, spec rollout.RuleSpec) error
	FindExecution(ctx context.Context, stateMachineARN, imageTag string, since time.Time) (string, bool, error)
	Answer(ctx context.Context, a rollout.Awaiting, action ecstypes.DeploymentLifecycleHookAction) error
}

// AWS hands out the AWS-backed stages for a deployment's target (its region
// and AWS connection).
type AWS interface {
	Pusher(ctx context.Context, dep *store.Deployment) (Pusher, error)
	Rollout(ctx context.Context, dep *store.Deployment) (Rollout, error)
}

// Deployer drives deployments through the build, start and follow tasks.
// NewServer makes it; its fields are set once before the worker starts.
type Deployer struct {
	// Life accepts and finishes deployments.
	Life   *deployment.Service
	Store  *store.Store
	Queue  Enqueuer
	Checks Checks
	Tokens Tokens
	// Builder builds images.
	Builder Builder
	// BuilderPushes is set when Builder pushes during the build
	// (*image.BuildkitBuilder): the build then gets the ECR destination, and the
	// push stage only records what the build pushed.
	BuilderPushes bool
	// BuildSecrets gives the build secrets of one repository's environment (the
	// names .panda.yml lists under build_secrets). If nil, a build that names
	// secrets fails as the user's error.
	BuildSecrets func(repo, environment string) image.Secrets
	AWS          AWS
	// GitURL is GITHUB_URL, the base clones are made from.
	GitURL string
	// WorkDir holds checkouts. If empty, the OS temp dir.
	WorkDir string
	// DeployTimeout bounds following the execution. If zero, 30 minutes.
	DeployTimeout time.Duration
	// WaitInterval is how often a deployment waiting for its environment looks
	// again. If zero, 5 seconds.
	WaitInterval time.Duration
	Logger       *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// lockTTL bounds how long a dead worker can hold an environment: every poll
// of a running execution extends it.
const lockTTL = 10 * time.Minute

func (d *Deployer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deployer) waitInterval() time.Duration {
	if d.WaitInterval > 0 {
		return d.WaitInterval
	}
	return 5 * time.Second
}

// register adds the deployment task handlers to mux.
func (d *Deployer) register(mux *asynq.ServeMux) {
	mux.HandleFunc(tasks.TypeBuild, endedOK(d.HandleBuild))
	mux.HandleFunc(tasks.TypeStart, endedOK(d.HandleStart))
	mux.HandleFunc(tasks.TypeFollow, endedOK(d.HandleFollow))
	mux.HandleFunc(tasks.TypeReport, d.HandleReport)
}

// HandleReport sends what GitHub has yet to accept of a final deployment (its
// outbox), and fails, to be retried with the delay the error asks for, until
// GitHub took all of it.
func (d *Deployer) HandleReport(ctx context.Context, t *asynq.Task) error {
	var p tasks.DeployPayload
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	dep, err := d.Store.Get(ctx, p.DeploymentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // expired: nobody is left to tell
	}
	if err != nil {
		return err
	}
	return d.Life.Report(ctx, dep)
}

// load decodes a chain task and reads its deployment. done is true when there
// is nothing left to do: the deployment is gone or already final.
func (d *Deployer) load(ctx context.Context, t *asynq.Task) (p tasks.DeployPayload, dep *store.Deployment, done bool, err error) {
	if err := tasks.Decode(t, &p); err != nil {
		return p, nil, true, err
	}
	dep, err = d.Store.Get(ctx, p.DeploymentID)
	if errors.Is(err, store.ErrNotFound) {
		d.Logger.Warn("task for an unknown deployment", "deployment_id", p.DeploymentID, "task_type", t.Type())
		return p, nil, true, nil
	}
	if err != nil {
		return p, nil, true, err
	}
	if dep.Status.Final() {
		return p, dep, true, d.Life.EnsureEnded(ctx, dep)
	}
	return p, dep, false, nil
}

// enqueue queues a follow-up task; a TaskID conflict means an earlier attempt
// of this task already queued it.
func (d *Deployer) enqueue(ctx context.Context, t *asynq.Task) error {
	if _, err := d.Queue.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// lastAttempt reports whether the running task will not be retried again.
func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}

// errEnded says the deployment reached its final status within this task:
// the task's remaining steps must not run, and there is nothing to retry.
// The handlers registered by register turn it into success.
var errEnded = fmt.Errorf("deployment ended: %w", asynq.SkipRetry)

// endedOK maps errEnded to a finished task.
func endedOK(h asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		if err := h(ctx, t); !errors.Is(err, errEnded) {
			return err
		}
		return nil
	}
}

// stageFailed ends dep as FAILED when err is permanent or this was the last
// attempt (and returns errEnded), and otherwise returns err so Asynq retries
// the task.
func (d *Deployer) stageFailed(ctx context.Context, dep *store.Deployment, stage pipeline.Stage, err error) error {
	log := d.Logger.With("deployment_id", dep.ID, "repo", dep.Repo, "sha", dep.SHA)
	if ctx.Err() == nil && !pipeline.IsPermanent(err) && !lastAttempt(ctx) {
		log.Warn("stage failed, will retry", "stage", stage, "err", err)
		d.event(ctx, dep, events.StageRetrying{Stage: stage, Reason: pipeline.UserMessage(err, string(stage)+" failed")})
		return err
	}
	log.Error("stage failed", "stage", stage, "err", err)
	msg := pipeline.UserMessage(err, string(stage)+" failed because of an internal error; Panda's logs have the details")
	var stepErr *image.StepError
	var annotations []checks.Annotation
	if errors.As(err, &stepErr) && stepErr.Line > 0 {
		annotations = append(annotations, checks.DockerfileAnnotation(stepErr.Dockerfile, stepErr.Line, stepErr.Instruction, stepErr.Message))
	}
	if err := d.Life.Finish(context.WithoutCancel(ctx), dep, store.StatusFailed, stage, msg, annotations); err != nil {
		return err
	}
	return errEnded
}

// event appends to the deployment's event stream (best effort: see
// deployment.Service.Event).
func (d *Deployer) event(ctx context.Context, dep *store.Deployment, ev events.Kind) {
	d.Life.Event(ctx, dep, ev)
}

func (d *Deployer) checkErr(dep *store.Deployment, what string, err error) {
	d.Life.CheckErr(dep, what, err)
}

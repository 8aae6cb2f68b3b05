package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/events"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/rollout"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// HandleStart waits for the deployment's environment to be free, then starts
// its execution (named after the deployment, so a retry cannot start a second
// one) and queues the first poll. While it waits it re-enqueues itself; when
// a newer deployment of the same environment is waiting too, this one is
// SUPERSEDED: deploying an image that is about to be replaced helps nobody.
func (d *Deployer) HandleStart(ctx context.Context, t *asynq.Task) error {
	p, dep, done, err := d.load(ctx, t)
	if done {
		return err
	}
	if held, err := d.scanGate(ctx, dep, p.Step); held || err != nil {
		return err
	}
	if dep.ExecutionARN == "" && eventBridge(dep) {
		// EventBridge started the rollout on the push, whatever Panda's lock
		// says: there is nothing to wait for but the execution to appear.
		if dep, err = d.findExecution(ctx, dep, p.Step); err != nil || dep == nil {
			return err
		}
	}
	if dep.ExecutionARN == "" {
		ok, err := d.takeEnvironment(ctx, dep, p.Step)
		if err != nil || !ok {
			return err
		}
		if dep, err = d.startExecution(ctx, dep); err != nil || dep == nil {
			return err
		}
	}
	cur := rollout.Cursor{StartedAt: d.now()}
	return d.enqueue(ctx, followTask(dep.ID, 1, cur))
}

// takeEnvironment takes the environment's lock for dep, or queues dep behind
// the holder (and reports false).
func (d *Deployer) takeEnvironment(ctx context.Context, dep *store.Deployment, step int) (bool, error) {
	if err := d.Store.Ready(ctx, dep); err != nil {
		return false, err
	}
	ahead, newer, err := d.Store.Line(ctx, dep)
	if err != nil {
		return false, err
	}
	if newer != "" {
		msg := "Superseded by " + newer + ", a newer deployment of " + dep.Environment
		return false, d.Life.Finish(ctx, dep, store.StatusSuperseded, "", msg, nil)
	}
	env := store.EnvName(dep.Repo, dep.Environment)
	_, ok, err := d.Store.TryLock(ctx, env, dep.ID, lockTTL)
	if err != nil {
		return false, err
	}
	if ok {
		return true, d.Store.LeaveLine(ctx, dep)
	}
	holder, err := d.Store.LockHolder(ctx, env)
	if err != nil {
		return false, err
	}
	if step == 0 {
		d.event(ctx, dep, events.Waiting{Behind: holder, Position: ahead + 1})
	}
	d.checkErr(dep, "waiting", d.Checks.Waiting(ctx, dep, holder, ahead+1))
	return false, d.enqueue(ctx, tasks.NewStartTask(dep.ID, step+1, d.waitInterval()))
}

// startExecution starts the execution and records its ARN. It returns a nil
// deployment when the start failed for good (the deployment is then final).
func (d *Deployer) startExecution(ctx context.Context, dep *store.Deployment) (*store.Deployment, error) {
	d.event(ctx, dep, events.StageStarted{Stage: pipeline.StageDeploy})
	d.checkErr(dep, "start", d.Checks.Start(ctx, dep, string(pipeline.StageDeploy)))
	rc, err := d.AWS.Rollout(ctx, dep)
	if err != nil {
		return nil, d.stageFailed(ctx, dep, pipeline.StageDeploy, err)
	}
	arn, err := rc.Start(ctx, rollout.StartRequest{
		StateMachineARN: dep.Target.StateMachineARN,
		Name:            dep.ID,
		Input: rollout.Input{
			ImageURI:      dep.ImageURI,
			Cluster:       dep.Target.Cluster,
			Service:       dep.Target.Service,
			TaskFamily:    dep.Target.TaskFamily,
			ContainerPort: dep.Target.ContainerPort,
			DesiredCount:  dep.Target.DesiredCount,
			Repository:    dep.Repo,
			Commit:        dep.SHA,
			Environment:   dep.Environment,
			DeploymentID:  dep.ID,
			HealthCheck:   healthCheckInput(dep.Target.HealthCheck),
			Approval:      approvalInput(dep.Target.Approval),
		},
	})
	if err != nil {
		return nil, d.stageFailed(ctx, dep, pipeline.StageDeploy, err)
	}
	dep, err = d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error { x.ExecutionARN = arn; return nil })
	if err != nil {
		return nil, err
	}
	d.event(ctx, dep, events.ExecutionStarted{ExecutionARN: arn})
	return dep, nil
}

// followTask is the follow task of poll step, resuming at cur after the
// interval the cursor calls for.
func followTask(id string, step int, cur rollout.Cursor) *asynq.Task {
	// Marshal cannot fail: the cursor holds only strings, numbers and times.
	data, _ := json.Marshal(cur)
	return tasks.NewFollowTask(id, step, data, rollout.NextInterval(cur))
}

// HandleFollow reads the execution's new history once. Until the execution
// ends it re-enqueues itself with ProcessIn, so no handler sleeps through a
// half-hour rollout and a shutdown never strands one.
func (d *Deployer) HandleFollow(ctx context.Context, t *asynq.Task) error {
	p, dep, done, err := d.load(ctx, t)
	if done {
		if dep != nil {
			d.Life.Release(ctx, dep)
		}
		return err
	}
	rc, err := d.AWS.Rollout(ctx, dep)
	if err != nil {
		return d.stageFailed(ctx, dep, pipeline.StageDeploy, err)
	}
	var cur rollout.Cursor
	if len(p.Cursor) > 0 {
		if err := json.Unmarshal(p.Cursor, &cur); err != nil {
			return fmt.Errorf("decode the follow cursor of %s: %v: %w", dep.ID, err, asynq.SkipRetry)
		}
	}
	prog, err := rc.Poll(ctx, dep.ExecutionARN, cur)
	if err != nil {
		return d.stageFailed(ctx, dep, pipeline.StageDeploy, err)
	}
	for _, ev := range prog.Events {
		sc := events.StateChanged{At: ev.Time, SFNState: ev.State, SFNPhase: string(ev.Phase), Error: ev.Error}
		d.event(ctx, dep, sc)
		d.checkErr(dep, "log", d.Checks.Log(ctx, dep, string(pipeline.StageDeploy), sc.Event().Message))
	}
	if prog.Cursor.Stop == nil {
		prog.Cursor.Stop = d.stopWanted(dep, prog)
	}
	if prog.Cursor.Stop != nil {
		return d.stopping(ctx, rc, dep, p.Step, prog)
	}
	if !prog.Done {
		if err := d.approval(ctx, rc, dep, &prog.Cursor); err != nil {
			return err
		}
	}
	if prog.Done {
		return d.ended(ctx, rc, dep, prog)
	}
	return d.followAgain(ctx, dep, p.Step, prog.Cursor)
}

// followAgain extends dep's hold on its environment and queues the next poll.
func (d *Deployer) followAgain(ctx context.Context, dep *store.Deployment, step int, cur rollout.Cursor) error {
	if _, _, err := d.Store.TryLock(ctx, store.EnvName(dep.Repo, dep.Environment), dep.ID, lockTTL); err != nil {
		return err
	}
	return d.enqueue(ctx, followTask(dep.ID, step+1, cur))
}

// ended records the end of the execution. A rollout that ECS rolled back is a
// failure, whatever the execution's own status says.
func (d *Deployer) ended(ctx context.Context, rc Rollout, dep *store.Deployment, prog rollout.Progress) error {
	switch {
	case prog.Status == rollout.StatusAborted:
		msg := "The rollout was stopped"
		if dep.StopRequest != "" {
			msg = dep.StopRequest
		}
		return d.finishDeploy(ctx, dep, prog.Cursor, store.StatusCanceled, msg, prog.Output)
	case prog.Status == rollout.StatusTimedOut:
		return d.finishDeploy(ctx, dep, prog.Cursor, store.StatusTimeout, "The state machine timed out", prog.Output)
	case prog.Status != rollout.StatusSucceeded || prog.Output.RolledBack || prog.Failure != nil:
		msg, annotations := d.failure(ctx, rc, dep, prog)
		if why, status, ok := approvalEnd(prog.Cursor); ok {
			return d.finishDeploy(ctx, dep, prog.Cursor, status, why+"\n"+msg, prog.Output, annotations...)
		}
		return d.finishDeploy(ctx, dep, prog.Cursor, store.StatusFailed, msg, prog.Output, annotations...)
	}
	return d.finishDeploy(ctx, dep, prog.Cursor, store.StatusSucceeded, "", prog.Output)
}

// failure says why the rollout failed, from ECS itself: the step and the
// error the execution ended with, the service deployment's final status, the
// stopped tasks' reasons and the service's events, as summary lines; each
// stopped-task reason is also an annotation on .panda.yml (the environment
// whose service failed).
func (d *Deployer) failure(ctx context.Context, rc Rollout, dep *store.Deployment, prog rollout.Progress) (string, []checks.Annotation) {
	f := prog.Failure
	if f == nil {
		f = &rollout.Failure{State: prog.Cursor.State, Error: "RolledBack", Cause: "The deployment was rolled back."}
	}
	r := rollout.ParseReason(*f)
	if prog.Cursor.Updating {
		// Best effort: the failure is reported without them if ECS cannot be read.
		events, err := rc.ServiceEvents(ctx, dep.Target.Cluster, dep.Target.Service, prog.Cursor.StartedAt)
		if err != nil {
			d.Logger.Warn("read service events", "deployment_id", dep.ID, "err", err)
		}
		r.Events = events
	}
	var annotations []checks.Annotation
	for _, s := range r.StoppedTasks {
		annotations = append(annotations, checks.Annotation{Path: ".panda.yml", Line: 1, Message: "ECS stopped a task of " + dep.Target.Service + " (environment " + dep.Environment + "): " + s})
	}
	return strings.Join(r.Lines(), "\n"), annotations
}

func (d *Deployer) finishDeploy(ctx context.Context, dep *store.Deployment, cur rollout.Cursor, status store.Status, msg string, out rollout.Output, annotations ...checks.Annotation) error {
	updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		if x.StageDurations == nil {
			x.StageDurations = map[string]time.Duration{}
		}
		if !cur.StartedAt.IsZero() {
			x.StageDurations[string(pipeline.StageDeploy)] = d.now().Sub(cur.StartedAt)
		}
		x.BlueURL, x.GreenURL = out.BlueURL, out.GreenURL
		return nil
	})
	if errors.Is(err, store.ErrFinal) {
		d.Life.Release(ctx, dep)
		return nil
	}
	if err != nil {
		return err
	}
	stage := pipeline.Stage("")
	if status != store.StatusSucceeded {
		stage = pipeline.StageDeploy
	}
	return d.Life.Finish(ctx, updated, status, stage, msg, annotations)
}

func healthCheckInput(hc *store.HealthCheck) *rollout.HealthCheck {
	if hc == nil {
		return nil
	}
	return &rollout.HealthCheck{Path: hc.Path, ExpectStatus: hc.ExpectStatus, TimeoutSeconds: hc.TimeoutSeconds, Attempts: hc.Attempts}
}

package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/rollout"
	"github.com/pandadeploy/panda/store"
)

// A cancelled or timed-out rollout is stopped by Panda itself: it asks ECS
// to roll the service deployment back (StopServiceDeployment, stopType
// ROLLBACK), stops the execution, and keeps following — ECS now, one
// re-enqueued read at a time — until ECS reports a terminal status. Only then
// does the deployment end CANCELED or TIMEOUT and the environment's lock go,
// so the next deployment of the environment never starts while ECS is still
// rolling back. Stopping the execution alone would not do: an aborted
// execution runs no Catch, and ECS would go on shifting traffic.

// rollbackWait bounds how long Panda awaits ECS's terminal status after
// asking it to roll back, beyond which it gives the environment up and says
// ECS did not confirm. The shipped definition waits 30 minutes for the same.
const rollbackWait = time.Hour

// stopWanted says whether the rollout is to be stopped now, and how it then
// ends: cancelled (a stop request on the record, or the execution aborted
// outside Panda after it asked ECS to update the service), or timed out.
func (d *Deployer) stopWanted(dep *store.Deployment, prog rollout.Progress) *rollout.Stop {
	cur := prog.Cursor
	now := d.now()
	switch {
	case prog.Done && prog.Status == rollout.StatusAborted && cur.Updating:
		msg := dep.StopRequest
		if msg == "" {
			msg = "The execution was stopped outside Panda"
		}
		return &rollout.Stop{Status: string(store.StatusCanceled), Message: msg, At: now}
	case prog.Done:
		// The execution ended by itself first: what it says is what happened.
		return nil
	case dep.StopRequest != "":
		return &rollout.Stop{Status: string(store.StatusCanceled), Message: dep.StopRequest, At: now}
	case cur.TimedOut(now, d.DeployTimeout):
		msg := fmt.Sprintf("The rollout did not finish within %s (the deployment timeout plus the service's bake time and lifecycle hook timeouts)", cur.Timeout(d.DeployTimeout))
		return &rollout.Stop{Status: string(store.StatusTimeout), Message: msg, At: now}
	}
	return nil
}

// stopping carries out the stop in prog.Cursor.Stop, one step per follow task.
func (d *Deployer) stopping(ctx context.Context, rc Rollout, dep *store.Deployment, step int, prog rollout.Progress) error {
	if !prog.Cursor.Stop.RollingBack {
		return d.beginStop(ctx, rc, dep, step, prog)
	}
	return d.awaitRollback(ctx, rc, dep, step, prog.Cursor)
}

// beginStop decides what stopping takes, from what the history says ECS was asked.
func (d *Deployer) beginStop(ctx context.Context, rc Rollout, dep *store.Deployment, step int, prog rollout.Progress) error {
	cur := prog.Cursor
	s := cur.Stop
	switch {
	case prog.Done && prog.Status != rollout.StatusAborted:
		return d.ended(ctx, rc, dep, prog)
	case cur.ServiceDeploymentARN != "":
		return d.rollBack(ctx, rc, dep, step, prog)
	case !cur.Updating:
		// ECS was never asked to change the service: stopping the
		// execution is all there is to do.
		if err := d.stopExecution(ctx, rc, dep, prog, s.Message); err != nil {
			return err
		}
		return d.finishDeploy(ctx, dep, cur, store.Status(s.Status), s.Message+"; the ECS service was not changed", rollout.Output{})
	case !cur.Updated && !prog.Done:
		// UpdateService was called and has not answered: stopping the
		// execution now could leave the deployment it starts running.
		// Follow until the history shows the answer.
		return d.followAgain(ctx, dep, step, cur)
	}
	// ECS was asked to update the service, and the history names no service
	// deployment (yet, or ever: the execution ended): ask ECS for it, as the
	// definition would.
	arn, err := rc.FindDeployment(ctx, dep.Target.Cluster, dep.Target.Service)
	if err != nil {
		return d.stopFailed(ctx, dep, cur, err)
	}
	if arn == "" {
		if err := d.stopExecution(ctx, rc, dep, prog, s.Message); err != nil {
			return err
		}
		return d.finishDeploy(ctx, dep, cur, store.Status(s.Status), s.Message+"; ECS shows no service deployment in progress to roll back", rollout.Output{})
	}
	prog.Cursor.ServiceDeploymentARN = arn
	return d.rollBack(ctx, rc, dep, step, prog)
}

// rollBack asks ECS to roll the service deployment back, stops the
// execution (so the definition does not act on the same deployment too),
// and follows on to await ECS.
func (d *Deployer) rollBack(ctx context.Context, rc Rollout, dep *store.Deployment, step int, prog rollout.Progress) error {
	cur := prog.Cursor
	if err := rc.RollBack(ctx, cur.ServiceDeploymentARN); err != nil {
		return d.stopFailed(ctx, dep, cur, err)
	}
	if err := d.stopExecution(ctx, rc, dep, prog, cur.Stop.Message+"; Panda rolls ECS back"); err != nil {
		return err
	}
	cur.Stop.RollingBack = true
	d.event(ctx, dep, events.ECSRollingBack{Reason: cur.Stop.Message, ServiceDeploymentARN: cur.ServiceDeploymentARN})
	d.checkErr(dep, "log", d.Checks.Log(ctx, dep, string(pipeline.StageDeploy), "Rolling the ECS service deployment back"))
	return d.followAgain(ctx, dep, step, cur)
}

// stopExecution stops the execution unless it has ended.
func (d *Deployer) stopExecution(ctx context.Context, rc Rollout, dep *store.Deployment, prog rollout.Progress, why string) error {
	if prog.Done {
		return nil
	}
	return rc.Stop(ctx, dep.ExecutionARN, "Panda: "+why)
}

// awaitRollback reads the service deployment once: terminal ends the
// deployment with what ECS says; anything else follows on, up to rollbackWait.
func (d *Deployer) awaitRollback(ctx context.Context, rc Rollout, dep *store.Deployment, step int, cur rollout.Cursor) error {
	s := cur.Stop
	sd, err := rc.DescribeDeployment(ctx, dep.Target.Cluster, dep.Target.Service, cur.ServiceDeploymentARN)
	if err != nil {
		return d.stopFailed(ctx, dep, cur, err)
	}
	if sd.Terminal {
		return d.finishDeploy(ctx, dep, cur, store.Status(s.Status), stoppedMessage(s.Message, sd), rollout.Output{})
	}
	s.Reads++
	if d.now().Sub(s.At) > rollbackWait {
		msg := fmt.Sprintf("%s; ECS did not confirm the rollback within %s (the service deployment is %s): check the service in the ECS console", s.Message, rollbackWait, sd.Status)
		return d.finishDeploy(ctx, dep, cur, store.Status(s.Status), msg, rollout.Output{})
	}
	return d.followAgain(ctx, dep, step, cur)
}

// stoppedMessage says how a stopped rollout ended, as ECS reports it.
func stoppedMessage(msg string, sd rollout.ServiceDeployment) string {
	rev := "the previous revision"
	if sd.Revision > 0 {
		rev = fmt.Sprintf("revision %d", sd.Revision)
	}
	why := ""
	if sd.Reason != "" {
		why = " (ECS: " + sd.Reason + ")"
	}
	switch sd.Status {
	case "ROLLBACK_SUCCESSFUL":
		return fmt.Sprintf("%s — rolled back to %s", msg, rev)
	case "ROLLBACK_FAILED":
		return fmt.Sprintf("%s, but ECS could not roll the service deployment back (ROLLBACK_FAILED)%s: the service may still run the new revision; check it in the ECS console", msg, why)
	case "SUCCESSFUL":
		return fmt.Sprintf("%s, but ECS had already completed the service deployment: %s serves", msg, rev)
	}
	return fmt.Sprintf("%s; ECS stopped the service deployment without rolling it back (%s)%s", msg, sd.Status, why)
}

// stopFailed handles an error of the stop: a transient one is retried (the
// task runs again with the same cursor); a permanent one ends the deployment
// with what is known, saying ECS did not confirm.
func (d *Deployer) stopFailed(ctx context.Context, dep *store.Deployment, cur rollout.Cursor, err error) error {
	if !pipeline.IsPermanent(err) && !lastAttempt(ctx) {
		return err
	}
	d.Logger.Error("roll back", "deployment_id", dep.ID, "err", err)
	msg := cur.Stop.Message + "; Panda could not roll ECS back: " + pipeline.UserMessage(err, "ECS refused") + "; check the service in the ECS console"
	if ferr := d.finishDeploy(context.WithoutCancel(ctx), dep, cur, store.Status(cur.Stop.Status), msg, rollout.Output{}); ferr != nil {
		return errors.Join(err, ferr)
	}
	return errEnded
}

package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/rollout"
	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// In the EventBridge trigger mode (the seed system's), an EventBridge rule on
// the ECR push starts the execution; Panda makes sure the rule exists before
// it pushes, then finds the execution by the image tag and follows it.

// eventBridgeWait bounds how long Panda looks for the execution EventBridge
// should have started, in TypeStart re-enqueues of eventBridgePoll.
const (
	eventBridgePoll  = 2 * time.Second
	eventBridgeSteps = 90
)

func eventBridge(dep *store.Deployment) bool {
	return dep.Target.Trigger == string(repoconfig.TriggerEventBridge)
}

// ruleName is one rule per repository and environment, within EventBridge's
// 64-character limit.
func ruleName(dep *store.Deployment) string {
	name := tagUnsafe.ReplaceAllString("panda-"+strings.ReplaceAll(dep.Repo, "/", "-")+"-"+dep.Environment, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

func (d *Deployer) ensureRule(ctx context.Context, dep *store.Deployment) error {
	rc, err := d.AWS.Rollout(ctx, dep)
	if err != nil {
		return err
	}
	return rc.EnsureRule(ctx, rollout.RuleSpec{
		Name:            ruleName(dep),
		ECRRepository:   ecrRepository(dep),
		TagPrefix:       rollout.TriggerTagPrefix(dep.Environment),
		StateMachineARN: dep.Target.StateMachineARN,
		RoleARN:         dep.Target.EventsRoleARN,
		Input: rollout.Input{
			Cluster: dep.Target.Cluster, Service: dep.Target.Service, TaskFamily: dep.Target.TaskFamily,
			ContainerPort: dep.Target.ContainerPort, DesiredCount: dep.Target.DesiredCount,
			Repository: dep.Repo, Environment: dep.Environment, HealthCheck: healthCheckInput(dep.Target.HealthCheck),
			Approval: approvalInput(dep.Target.Approval),
		},
	})
}

// findExecution looks for the execution EventBridge started for dep's image.
// Until it appears the start task re-enqueues itself; after eventBridgeSteps
// looks the deployment fails, saying what to check.
func (d *Deployer) findExecution(ctx context.Context, dep *store.Deployment, step int) (*store.Deployment, error) {
	rc, err := d.AWS.Rollout(ctx, dep)
	if err != nil {
		return nil, d.stageFailed(ctx, dep, pipeline.StageDeploy, err)
	}
	if step == 0 {
		d.event(ctx, dep, events.StageStarted{Stage: pipeline.StageDeploy})
		d.event(ctx, dep, events.AwaitingTrigger{Rule: ruleName(dep)})
		d.checkErr(dep, "start", d.Checks.Start(ctx, dep, string(pipeline.StageDeploy)))
	}
	arn, found, err := rc.FindExecution(ctx, dep.Target.StateMachineARN, rollout.TriggerTag(dep.Environment, dep.SHA), dep.CreatedAt.Add(-time.Minute))
	if err != nil {
		return nil, d.stageFailed(ctx, dep, pipeline.StageDeploy, err)
	}
	if !found {
		if step >= eventBridgeSteps {
			err := pipeline.UserError(nil, "EventBridge started no execution of %s for image tag %s: check rule %s and its role",
				dep.Target.StateMachineARN, rollout.TriggerTag(dep.Environment, names.ShortSHA(dep.SHA)), ruleName(dep))
			return nil, d.stageFailed(ctx, dep, pipeline.StageDeploy, err)
		}
		return nil, d.enqueue(ctx, tasks.NewStartTask(dep.ID, step+1, eventBridgePoll))
	}
	dep, err = d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error { x.ExecutionARN = arn; return nil })
	if err != nil {
		return nil, err
	}
	d.event(ctx, dep, events.ExecutionStarted{ExecutionARN: arn, ByEventBridge: true})
	return dep, nil
}

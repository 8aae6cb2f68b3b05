package events

import (
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// PhaseECSRollback marks Panda rolling an ECS service deployment back.
const PhaseECSRollback = "ecs_rollback"

// ECSRollingBack says Panda asked ECS to roll the running service deployment
// back (a cancel or the deployment timeout), and waits for ECS to confirm.
// Message: the reason, then ": rolling the ECS service deployment back".
type ECSRollingBack struct {
	Phase string `json:"phase"` // always PhaseECSRollback
	// Reason is why the rollout is stopped ("Cancelled by octocat", the timeout).
	Reason string `json:"reason"`
	// ServiceDeploymentARN is the ECS service deployment rolled back.
	ServiceDeploymentARN string `json:"serviceDeploymentArn"`
}

// Event implements Kind.
func (e ECSRollingBack) Event() store.Event {
	e.Phase = PhaseECSRollback
	return envelope(store.EventStage, pipeline.StageDeploy, e.Reason+": rolling the ECS service deployment back", e)
}

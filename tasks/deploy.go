package tasks

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Deployment task types: a deployment is driven by a chain of them, each with
// a TaskID derived from the deployment id, so a duplicated or retried task
// resumes the same deployment instead of starting another.
const (
	// TypeBuild clones, builds and pushes the image.
	TypeBuild = "deploy:build"
	// TypeStart waits for the environment, then starts the execution.
	TypeStart = "deploy:start"
	// TypeFollow reads the execution's new history once and re-enqueues itself.
	TypeFollow = "deploy:follow"
	// TypeReport tells GitHub what a final deployment's outbox still holds.
	TypeReport = "deploy:report"
)

// DeployPayload names the deployment a chain task works on (v1). Step counts
// the re-enqueues of TypeStart (while waiting) and TypeFollow (per poll) so
// each has its own TaskID; Cursor is where following the execution got to,
// kept opaque here (the follower owns its shape) so this package needs no
// part of the pipeline.
type DeployPayload struct {
	V            int             `json:"v"`
	DeploymentID string          `json:"deploymentId"`
	Step         int             `json:"step,omitempty"`
	Cursor       json.RawMessage `json:"cursor,omitempty"`
}

func deployTask(typ string, p DeployPayload, timeout time.Duration, retries int, opts ...asynq.Option) *asynq.Task {
	p.V = 1
	// Marshal cannot fail: the payload holds only strings, numbers and JSON.
	data, _ := json.Marshal(p)
	id := typ + ":" + p.DeploymentID
	if p.Step > 0 {
		id += ":" + strconv.Itoa(p.Step)
	}
	opts = append([]asynq.Option{
		asynq.TaskID(id),
		asynq.Queue(QueueDeploy),
		asynq.MaxRetry(retries),
		asynq.Timeout(timeout),
		asynq.Retention(time.Hour),
	}, opts...)
	return asynq.NewTask(typ, data, opts...)
}

// NewBuildTask returns the task that clones, builds and pushes deployment id.
// Its timeout covers the build timeout plus the clone and the push.
func NewBuildTask(id string, buildTimeout time.Duration) *asynq.Task {
	return deployTask(TypeBuild, DeployPayload{DeploymentID: id}, buildTimeout+15*time.Minute, 5)
}

// NewHeldBuildTask is the build task of deployment id re-enqueued while a
// freeze holds it: step counts the holds, delay is until the freeze ends.
func NewHeldBuildTask(id string, buildTimeout time.Duration, step int, delay time.Duration) *asynq.Task {
	return deployTask(TypeBuild, DeployPayload{DeploymentID: id, Step: step}, buildTimeout+15*time.Minute, 5, asynq.ProcessIn(delay))
}

// NewStartTask returns the task that starts deployment id's execution; step
// counts its re-enqueues while the environment is busy, delay postpones it.
func NewStartTask(id string, step int, delay time.Duration) *asynq.Task {
	return deployTask(TypeStart, DeployPayload{DeploymentID: id, Step: step}, 2*time.Minute, 10, asynq.ProcessIn(delay))
}

// NewFollowTask returns the task that polls deployment id's execution once.
func NewFollowTask(id string, step int, cur json.RawMessage, delay time.Duration) *asynq.Task {
	return deployTask(TypeFollow, DeployPayload{DeploymentID: id, Step: step, Cursor: cur}, 2*time.Minute, 10, asynq.ProcessIn(delay))
}

// NewReportTask returns the task that drains deployment id's outbox: the
// final updates GitHub has yet to accept. Its retries (with the delay the
// error asks for, a rate limit's included) span hours, since an outage of
// GitHub must delay these updates, not lose them.
func NewReportTask(id string) *asynq.Task {
	return deployTask(TypeReport, DeployPayload{DeploymentID: id}, 2*time.Minute, 40)
}

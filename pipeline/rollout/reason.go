package rollout

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Reason is why a rollout failed, parsed from the failure the execution
// ended with. The shipped definition's Fail state (DeploymentFailed) writes
// its cause as
//
//	STEP failed: CAUSE[ The service deployment ended STATUS.][ Stopped tasks: R1; R2.][ The rollback failed too: ERROR: CAUSE]
//
// (deploy/aws/README.md); a cause of another shape is kept whole in Summary.
type Reason struct {
	// Step is the deploy step that failed (EnsureInfra, RegisterTaskDefinition,
	// UpdateService, BlueGreenDeployment), or the state the execution was in.
	Step string
	// Error is the error name: Panda.* from the shipped definition
	// (Panda.DeploymentRolledBack, Panda.DeploymentTimedOut, …) or a Step
	// Functions / service error (States.Timeout, Ecs.AccessDeniedException).
	Error string
	// Summary is what went wrong, in ECS's or the definition's words.
	Summary string
	// FinalStatus is the service deployment's terminal status, if ECS reached one.
	FinalStatus string
	// StoppedTasks are the stopped tasks' reasons ("Task failed ELB health
	// checks in (target-group …)", "CannotPullContainerError: …").
	StoppedTasks []string
	// RollbackFailure says why rolling back failed too, if it did.
	RollbackFailure string
	// Events are the ECS service's events during the rollout, newest last;
	// the caller adds them (ServiceEvents).
	Events []string
}

// ParseReason parses f.
func ParseReason(f Failure) Reason {
	r := Reason{Step: f.State, Error: f.Error}
	cause := strings.TrimSpace(f.Cause)
	if step, rest, ok := strings.Cut(cause, " failed: "); ok && !strings.ContainsAny(step, " :") {
		r.Step, cause = step, rest
	}
	if before, after, ok := strings.Cut(cause, " The rollback failed too: "); ok {
		cause, r.RollbackFailure = before, strings.TrimSpace(after)
	}
	if before, after, ok := strings.Cut(cause, " Stopped tasks: "); ok {
		cause = before
		for _, s := range strings.Split(strings.TrimSuffix(strings.TrimSpace(after), "."), "; ") {
			if s = strings.TrimSpace(s); s != "" {
				r.StoppedTasks = append(r.StoppedTasks, s)
			}
		}
	}
	if before, after, ok := strings.Cut(cause, " The service deployment ended "); ok {
		cause, r.FinalStatus = before, strings.TrimSuffix(strings.TrimSpace(after), ".")
	}
	r.Summary = strings.TrimSpace(cause)
	return r
}

// RolledBack reports whether ECS confirmed that the previous revision serves again.
func (r Reason) RolledBack() bool { return r.FinalStatus == "ROLLBACK_SUCCESSFUL" }

// Lines renders the reason as lines for people: the failure first, then
// what ECS said.
func (r Reason) Lines() []string {
	head := r.Step + " failed"
	if r.Error != "" {
		head += " (" + r.Error + ")"
	}
	if r.Summary != "" {
		head += ": " + r.Summary
	}
	lines := []string{head}
	switch {
	case r.RolledBack():
		lines = append(lines, "ECS rolled the service deployment back (ROLLBACK_SUCCESSFUL): the previous revision serves.")
	case r.FinalStatus != "":
		lines = append(lines, "The service deployment ended "+r.FinalStatus+".")
	}
	if r.RollbackFailure != "" {
		lines = append(lines, "The rollback failed too: "+r.RollbackFailure)
	}
	for _, s := range r.StoppedTasks {
		lines = append(lines, "Stopped task: "+s)
	}
	for _, e := range r.Events {
		lines = append(lines, "ECS event: "+e)
	}
	return lines
}

// maxEvents bounds the service events a failure shows.
const maxEvents = 8

// ServiceEvents returns the messages of the service's events since since
// (the newest maxEvents of them, oldest first) that say something went
// wrong: a failed task, a failed or rolled-back deployment. ECS keeps a
// service's recent events in DescribeServices (ECS API reference,
// Service.events).
func (c *Client) ServiceEvents(ctx context.Context, cluster, service string, since time.Time) ([]string, error) {
	if c.ECS == nil {
		return nil, nil
	}
	out, err := c.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		return nil, classify(err, "describe service")
	}
	if len(out.Services) == 0 {
		return nil, nil
	}
	events := slices.Clone(out.Services[0].Events)
	// Oldest first, whichever order ECS answers in (it keeps the newest first).
	slices.SortStableFunc(events, func(a, b ecstypes.ServiceEvent) int { return aws.ToTime(a.CreatedAt).Compare(aws.ToTime(b.CreatedAt)) })
	var msgs []string
	for _, e := range events {
		msg := aws.ToString(e.Message)
		if aws.ToTime(e.CreatedAt).Before(since) {
			continue
		}
		if l := strings.ToLower(msg); strings.Contains(l, "fail") || strings.Contains(l, "roll") || strings.Contains(l, "unable") || strings.Contains(l, "error") {
			msgs = append(msgs, msg)
		}
	}
	if len(msgs) > maxEvents {
		msgs = msgs[len(msgs)-maxEvents:]
	}
	return msgs, nil
}

package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ECS is the part of the Amazon ECS API Panda calls itself to roll a service
// deployment back when a deployment is cancelled or times out; *ecs.Client
// satisfies it.
//
// Panda does this itself rather than leave it to the state machine: stopping
// an execution (StopExecution) runs no Catch, so an aborted execution cannot
// roll anything back, and Step Functions has no way to signal a running
// execution that is in a Wait state short of a task token the definition
// would have to wait on instead of polling ECS.
type ECS interface {
	StopServiceDeployment(ctx context.Context, in *ecs.StopServiceDeploymentInput, optFns ...func(*ecs.Options)) (*ecs.StopServiceDeploymentOutput, error)
	DescribeServiceDeployments(ctx context.Context, in *ecs.DescribeServiceDeploymentsInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error)
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	ListServiceDeployments(ctx context.Context, in *ecs.ListServiceDeploymentsInput, optFns ...func(*ecs.Options)) (*ecs.ListServiceDeploymentsOutput, error)
	ContinueServiceDeployment(ctx context.Context, in *ecs.ContinueServiceDeploymentInput, optFns ...func(*ecs.Options)) (*ecs.ContinueServiceDeploymentOutput, error)
}

var _ ECS = (*ecs.Client)(nil)

// ServiceDeployment is what ECS says of a service deployment.
type ServiceDeployment struct {
	ARN    string
	Status ecstypes.ServiceDeploymentStatus
	// Reason is ECS's statusReason, if any.
	Reason string
	// Terminal reports that ECS is done with the deployment: SUCCESSFUL,
	// STOPPED, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED (ECS API reference,
	// ServiceDeployment.status; the others are on their way to one of these).
	Terminal bool
	// TaskDefinition is the task definition the service runs once the
	// deployment is terminal (the previous one after a successful rollback),
	// and Revision its revision number, 0 if unknown.
	TaskDefinition string
	Revision       int
}

// RolledBack reports whether ECS confirms the previous revision serves again.
func (s ServiceDeployment) RolledBack() bool {
	return s.Status == ecstypes.ServiceDeploymentStatusRollbackSuccessful
}

// RollBack asks ECS to stop the service deployment arn with stopType
// ROLLBACK, the only stop type the ECS API reference lists
// (StopServiceDeployment: "The valid values are ROLLBACK"). A
// ConflictException means ECS is already stopping or rolling it back, or is
// done with it: that is not an error, the caller awaits the terminal status
// either way.
func (c *Client) RollBack(ctx context.Context, arn string) error {
	if c.ECS == nil {
		return fmt.Errorf("roll back %s: no ECS client", arn)
	}
	_, err := c.ECS.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{
		ServiceDeploymentArn: aws.String(arn),
		StopType:             ecstypes.StopServiceDeploymentStopTypeRollback,
	})
	var conflict *ecstypes.ConflictException
	if err == nil || errors.As(err, &conflict) {
		return nil
	}
	return classify(err, "stop service deployment")
}

// Answer answers the PAUSE hook a: CONTINUE moves production traffic to the
// new revision, ROLLBACK rolls the deployment back (ECS API reference,
// ContinueServiceDeployment: action CONTINUE or ROLLBACK; the hook must be
// AWAITING_ACTION and the deployment IN_PROGRESS). A ConflictException means
// the hook no longer awaits an answer — this answer was given before a
// retry, or the hook timed out — and is not an error: the execution follows
// what ECS does either way.
func (c *Client) Answer(ctx context.Context, a Awaiting, action ecstypes.DeploymentLifecycleHookAction) error {
	if c.ECS == nil {
		return fmt.Errorf("answer hook %s: no ECS client", a.HookID)
	}
	_, err := c.ECS.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{
		ServiceDeploymentArn: aws.String(a.ServiceDeploymentARN),
		HookId:               aws.String(a.HookID),
		Action:               action,
	})
	var conflict *ecstypes.ConflictException
	if err == nil || errors.As(err, &conflict) {
		return nil
	}
	return classify(err, "continue service deployment")
}

// DescribeDeployment reads the service deployment arn of service in cluster
// once. When it is terminal it also reads the service, for the task
// definition that serves now.
func (c *Client) DescribeDeployment(ctx context.Context, cluster, service, arn string) (ServiceDeployment, error) {
	sd := ServiceDeployment{ARN: arn}
	if c.ECS == nil {
		return sd, fmt.Errorf("describe %s: no ECS client", arn)
	}
	out, err := c.ECS.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	if err != nil {
		return sd, classify(err, "describe service deployment")
	}
	if len(out.ServiceDeployments) == 0 {
		// A MISSING failure: ECS does not show it (yet); read again later.
		return sd, nil
	}
	d := out.ServiceDeployments[0]
	sd.Status, sd.Reason = d.Status, aws.ToString(d.StatusReason)
	switch d.Status {
	case ecstypes.ServiceDeploymentStatusSuccessful, ecstypes.ServiceDeploymentStatusStopped,
		ecstypes.ServiceDeploymentStatusRollbackSuccessful, ecstypes.ServiceDeploymentStatusRollbackFailed:
		sd.Terminal = true
	default:
		return sd, nil
	}
	svc, err := c.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		return sd, classify(err, "describe service")
	}
	if len(svc.Services) > 0 {
		sd.TaskDefinition = aws.ToString(svc.Services[0].TaskDefinition)
		sd.Revision = revision(sd.TaskDefinition)
	}
	return sd, nil
}

// FindDeployment returns the newest service deployment of service in
// cluster that ECS is still starting or running, or "" if there is none: the
// one an execution started when its history does not name it.
func (c *Client) FindDeployment(ctx context.Context, cluster, service string) (string, error) {
	if c.ECS == nil {
		return "", fmt.Errorf("find the service deployment of %s: no ECS client", service)
	}
	out, err := c.ECS.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{
		Cluster: aws.String(cluster), Service: aws.String(service),
		Status: []ecstypes.ServiceDeploymentStatus{ecstypes.ServiceDeploymentStatusPending, ecstypes.ServiceDeploymentStatusInProgress},
	})
	if err != nil {
		return "", classify(err, "list service deployments")
	}
	newest := ""
	var at time.Time
	for _, d := range out.ServiceDeployments {
		if t := aws.ToTime(d.CreatedAt); newest == "" || t.After(at) {
			newest, at = aws.ToString(d.ServiceDeploymentArn), t
		}
	}
	return newest, nil
}

// revision is the revision number of a task definition ARN
// (arn:aws:ecs:…:task-definition/family:N), 0 if it has none.
func revision(taskDefinitionARN string) int {
	i := strings.LastIndexByte(taskDefinitionARN, ':')
	if i < 0 {
		return 0
	}
	n := 0
	for _, r := range taskDefinitionARN[i+1:] {
		if r < '0' || r > '9' {
			return 0
		}
		n = n*10 + int(r-'0')
	}
	return n
}

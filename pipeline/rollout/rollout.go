// Package rollout is the deploy stage: it starts the Step Functions execution
// that performs the Blue/Green rollout on ECS and follows it, one non-blocking
// poll at a time, to its end.
//
// Every call is idempotent and short, because its caller is an Asynq task that
// may run twice and that re-enqueues itself (ProcessIn) instead of sleeping:
// Start names the execution after the deployment id so a retry finds the first
// execution, and Poll carries its position in a JSON-serializable Cursor.
package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/retry"
)

// SFN is the part of the Step Functions API the deploy stage uses; *sfn.Client satisfies it.
type SFN interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, optFns ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
	ListExecutions(ctx context.Context, in *sfn.ListExecutionsInput, optFns ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
	StopExecution(ctx context.Context, in *sfn.StopExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
}

// Events is the part of the EventBridge API the trigger mode uses; *eventbridge.Client satisfies it.
type Events interface {
	DescribeRule(ctx context.Context, in *eventbridge.DescribeRuleInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeRuleOutput, error)
	PutRule(ctx context.Context, in *eventbridge.PutRuleInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutRuleOutput, error)
	PutTargets(ctx context.Context, in *eventbridge.PutTargetsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutTargetsOutput, error)
	ListTargetsByRule(ctx context.Context, in *eventbridge.ListTargetsByRuleInput, optFns ...func(*eventbridge.Options)) (*eventbridge.ListTargetsByRuleOutput, error)
}

var (
	_ SFN    = (*sfn.Client)(nil)
	_ Events = (*eventbridge.Client)(nil)
)

// Client starts and follows executions. SFN is required; Events only for
// EnsureRule, ECS only for RollBack and DescribeDeployment. A Client is safe
// for concurrent use if its clients are.
type Client struct {
	SFN    SFN
	Events Events
	ECS    ECS
}

// Input is the execution input the state machine reads.
type Input struct {
	ImageURI      string `json:"imageUri"`
	Cluster       string `json:"cluster"`
	Service       string `json:"service"`
	TaskFamily    string `json:"taskFamily"`
	ContainerPort int    `json:"containerPort"`
	DesiredCount  int    `json:"desiredCount,omitempty"` // omitted: the service keeps its count
	Repository    string `json:"repository"`
	Commit        string `json:"commit"`
	Environment   string `json:"environment"`
	DeploymentID  string `json:"deploymentId"`
	// HealthCheck, if set, has the definition probe the test listener before
	// production traffic moves (omitted: no probe).
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// Approval, if set, has the definition hold the PAUSE hook after the
	// test traffic shift for Panda to answer (omitted: no approval).
	Approval *Approval `json:"approval,omitempty"`
}

// Approval is the execution input's approval: how long the PAUSE hook may
// wait for an answer (the definition adds it to the hook's timeout).
type Approval struct {
	TimeoutMinutes int `json:"timeoutMinutes"`
}

// HealthCheck is the execution input's healthCheck; zero members take the
// definition's defaults (200, 5 seconds, 3 attempts).
type HealthCheck struct {
	Path           string  `json:"path"`
	ExpectStatus   int     `json:"expectStatus,omitempty"`
	TimeoutSeconds float64 `json:"timeoutSeconds,omitempty"`
	Attempts       int     `json:"attempts,omitempty"`
}

// StartRequest names the execution to start.
type StartRequest struct {
	StateMachineARN string
	// Name is the execution name: the deployment id, so a retried start finds
	// the execution the first attempt started.
	Name  string
	Input Input
}

// Start starts the execution and returns its ARN. It is idempotent: when an
// execution with that name already exists (a retry after a crash or a lost
// answer), Start returns that execution's ARN rather than failing or starting
// another. Errors are classified: an unknown state machine, a malformed ARN or
// name, or refused credentials are pipeline.UserError; throttling, 5xx and
// network failures are transient.
func (c *Client) Start(ctx context.Context, req StartRequest) (string, error) {
	if _, err := names.StateMachineARN(req.StateMachineARN); err != nil {
		// Refused before AWS is asked: a made-up partition or a region of
		// another partition would otherwise surface as an endpoint error that
		// looks transient.
		return "", pipeline.UserError(err, "The state machine ARN is not valid: %v.", err)
	}
	input, err := json.Marshal(req.Input)
	if err != nil {
		return "", fmt.Errorf("encode execution input: %w", err)
	}
	out, err := c.SFN.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(req.StateMachineARN),
		Name:            aws.String(req.Name),
		Input:           aws.String(string(input)),
	})
	if err == nil {
		return aws.ToString(out.ExecutionArn), nil
	}
	var exists *types.ExecutionAlreadyExists
	if !errors.As(err, &exists) {
		return "", classify(err, "start execution "+req.Name)
	}
	return c.existing(ctx, req)
}

// existing looks up the execution an earlier attempt of Start created.
func (c *Client) existing(ctx context.Context, req StartRequest) (string, error) {
	arn, err := ExecutionARN(req.StateMachineARN, req.Name)
	if err != nil {
		return "", pipeline.UserError(err, "The state machine ARN %s is not valid.", req.StateMachineARN)
	}
	if _, err := c.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)}); err != nil {
		return "", classify(err, "describe existing execution "+req.Name)
	}
	return arn, nil
}

// ExecutionARN derives the ARN Step Functions gives the execution called name
// of a state machine: arn:P:states:R:A:stateMachine:M becomes
// arn:P:states:R:A:execution:M:name (a version or alias qualifier is dropped).
// The state machine ARN must pass names.StateMachineARN.
func ExecutionARN(stateMachineARN, name string) (string, error) {
	a, err := names.StateMachineARN(stateMachineARN)
	if err != nil {
		return "", fmt.Errorf("derive execution ARN: %w", err)
	}
	machine, _, _ := strings.Cut(strings.TrimPrefix(a.Resource, "stateMachine:"), ":")
	a.Resource = "execution:" + machine + ":" + name
	return a.String(), nil
}

// Stop aborts a running execution (a user canceled the deployment). cause is
// recorded in the execution's history. Stopping an ended execution is not an error.
func (c *Client) Stop(ctx context.Context, executionARN, cause string) error {
	_, err := c.SFN.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(executionARN),
		Error:        aws.String("Panda.Canceled"),
		Cause:        aws.String(cause),
	})
	if err != nil {
		return classify(err, "stop execution")
	}
	return nil
}

// permanentCodes are the AWS error codes retrying cannot fix: the request or
// the configuration is wrong.
func permanentCodes() map[string]string {
	return map[string]string{
		"StateMachineDoesNotExist":     "The state machine does not exist.",
		"StateMachineDeleting":         "The state machine is being deleted.",
		"ExecutionDoesNotExist":        "The Step Functions execution does not exist.",
		"InvalidArn":                   "The state machine ARN is not valid.",
		"InvalidName":                  "The execution name is not valid.",
		"InvalidExecutionInput":        "The execution input is not valid.",
		"InvalidToken":                 "Step Functions refused the history page token.",
		"ValidationException":          "Step Functions refused the request as invalid.",
		"AccessDeniedException":        "The AWS credentials are not allowed to use Step Functions.",
		"UnrecognizedClientException":  "AWS does not recognize the credentials.",
		"InvalidSignatureException":    "AWS rejected the request signature; check the secret key.",
		"ResourceNotFoundException":    "The EventBridge rule does not exist.",
		"InvalidEventPatternException": "EventBridge refused the event pattern.",
		// ECS API reference, StopServiceDeployment and DescribeServiceDeployments errors.
		"ServiceDeploymentNotFoundException": "ECS does not know the service deployment.",
		"InvalidParameterException":          "ECS refused the request as invalid.",
		"ClusterNotFoundException":           "The ECS cluster does not exist.",
	}
}

// classify turns an AWS error into a pipeline error: permanent for the codes
// above, transient for everything else (throttling, 5xx, network, timeouts).
// Throttling carries a *retry.WaitError, so the task backs off for longer
// than the SDK's own retries already did.
func classify(err error, action string) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if msg, ok := permanentCodes()[apiErr.ErrorCode()]; ok {
			return pipeline.UserError(fmt.Errorf("%s: %w", action, err), "Deploy failed: %s", msg)
		}
	}
	return pipeline.TransientError(retry.FromAWS(fmt.Errorf("%s: %w", action, err)), "AWS did not answer; the deployment will retry.")
}

package awstest_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/pandadeploy/panda/internal/awstest"
)

const testInput = `{"imageUri":"127.0.0.1:5000/acme-web:abc","service":"web","taskFamily":"web-task"}`

func newSFN(t *testing.T, o awstest.Outcome) (*awstest.Server, *sfn.Client, string) {
	t.Helper()
	srv := awstest.NewServer(t, awstest.WithStep(time.Millisecond))
	arn := srv.StateMachineARN("panda-bluegreen")
	srv.AddStateMachine(arn, awstest.BlueGreenDefinition())
	srv.SetOutcome(arn, o)
	return srv, sfn.NewFromConfig(srv.Config()), arn
}

// waitEnd polls DescribeExecution until the execution leaves RUNNING.
func waitEnd(t *testing.T, client *sfn.Client, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		out, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("describe %s: %v", arn, err)
		}
		if out.Status != sfntypes.ExecutionStatusRunning {
			return out
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func history(t *testing.T, client *sfn.Client, arn string) []sfntypes.HistoryEvent {
	t.Helper()
	var events []sfntypes.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(client, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 7})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, page.Events...)
	}
	return events
}

// describe renders events as "Type" or "Type:state" for comparison.
func describe(events []sfntypes.HistoryEvent) []string {
	var out []string
	for _, e := range events {
		s := string(e.Type)
		if d := e.StateEnteredEventDetails; d != nil {
			s += ":" + aws.ToString(d.Name)
		}
		if d := e.StateExitedEventDetails; d != nil {
			s += ":" + aws.ToString(d.Name)
		}
		out = append(out, s)
	}
	return out
}

func task(name string) []string {
	return []string{"TaskStateEntered:" + name, "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited:" + name}
}

func TestExecutionWalksDefinition(t *testing.T) {
	t.Parallel()
	failedTask := func(name string) []string {
		return []string{"TaskStateEntered:" + name, "TaskScheduled", "TaskStarted", "TaskFailed", "TaskStateExited:" + name}
	}
	choice := func(name string) []string { return []string{"ChoiceStateEntered:" + name, "ChoiceStateExited:" + name} }
	// untilUpdate is the walk of the shipped definition up to and including UpdateService.
	untilUpdate := slices.Concat([]string{"ExecutionStarted"}, task("EnsureInfra"), choice("CheckInfra"), task("EnsureListeners"),
		task("EnsureLoadBalancer"), task("ReadTaskDefinition"), task("RegisterTaskDefinition"), task("UpdateService"), choice("HaveDeployment"))
	failed := []string{"FailStateEntered:DeploymentFailed", "ExecutionFailed"}
	tests := []struct {
		name       string
		outcome    awstest.Outcome
		wantStatus sfntypes.ExecutionStatus
		wantEvents []string
	}{
		{
			name:       "success",
			wantStatus: sfntypes.ExecutionStatusSucceeded,
			wantEvents: slices.Concat(untilUpdate, task("BlueGreenDeployment"), choice("DeploymentStatus"),
				[]string{"SucceedStateEntered:DeploymentSucceeded", "SucceedStateExited:DeploymentSucceeded", "ExecutionSucceeded"}),
		},
		{
			name:       "polls_until_done",
			outcome:    awstest.Outcome{ChoicesInTurn: map[string][]string{"DeploymentStatus": {"WaitForDeployment", "WaitForDeployment"}}},
			wantStatus: sfntypes.ExecutionStatusSucceeded,
			wantEvents: slices.Concat(untilUpdate,
				task("BlueGreenDeployment"), choice("DeploymentStatus"), []string{"WaitStateEntered:WaitForDeployment", "WaitStateExited:WaitForDeployment"},
				task("BlueGreenDeployment"), choice("DeploymentStatus"), []string{"WaitStateEntered:WaitForDeployment", "WaitStateExited:WaitForDeployment"},
				task("BlueGreenDeployment"), choice("DeploymentStatus"),
				[]string{"SucceedStateEntered:DeploymentSucceeded", "SucceedStateExited:DeploymentSucceeded", "ExecutionSucceeded"}),
		},
		{
			// ECS refused the update: nothing changed, so there is nothing to roll back.
			name:       "fail_update_service",
			outcome:    awstest.Outcome{FailAt: "UpdateService", Error: "Ecs.ServiceNotFoundException", Cause: "service web not found"},
			wantStatus: sfntypes.ExecutionStatusFailed,
			wantEvents: slices.Concat(untilUpdate[:len(untilUpdate)-7], failedTask("UpdateService"), failed),
		},
		{
			name:       "fail_bluegreen_rolls_back",
			outcome:    awstest.Outcome{FailAt: "BlueGreenDeployment", Error: "Ecs.ServiceDeploymentNotFoundException", Cause: "gone"},
			wantStatus: sfntypes.ExecutionStatusFailed,
			// The rollback is awaited (RollbackWait, RollbackStatus,
			// RollbackDone) and the stopped tasks read for their reasons.
			wantEvents: slices.Concat(untilUpdate, failedTask("BlueGreenDeployment"), task("RollbackDeployment"),
				[]string{"WaitStateEntered:RollbackWait", "WaitStateExited:RollbackWait"}, task("RollbackStatus"), choice("RollbackDone"),
				task("ReadStoppedTasks"), choice("HasStoppedTasks"), failed),
		},
		{
			name:       "timeout",
			outcome:    awstest.Outcome{TimeOutAt: "BlueGreenDeployment"},
			wantStatus: sfntypes.ExecutionStatusTimedOut,
			wantEvents: slices.Concat(untilUpdate, []string{"TaskStateEntered:BlueGreenDeployment", "TaskScheduled", "TaskStarted", "ExecutionTimedOut"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, client, machine := newSFN(t, tt.outcome)
			start, err := client.StartExecution(t.Context(), &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String("dep_0123456789"), Input: aws.String(testInput)})
			if err != nil {
				t.Fatal(err)
			}
			if want := "arn:aws:states:us-east-1:123456789012:execution:panda-bluegreen:dep_0123456789"; aws.ToString(start.ExecutionArn) != want {
				t.Errorf("executionArn = %s, want %s", aws.ToString(start.ExecutionArn), want)
			}
			end := waitEnd(t, client, *start.ExecutionArn)
			if end.Status != tt.wantStatus {
				t.Fatalf("status = %s, want %s", end.Status, tt.wantStatus)
			}
			events := history(t, client, *start.ExecutionArn)
			if !slices.Equal(describe(events), tt.wantEvents) {
				t.Errorf("events:\n got %v\nwant %v", describe(events), tt.wantEvents)
			}
			for i, e := range events {
				if e.Id != int64(i+1) || e.PreviousEventId != int64(i) || e.Timestamp == nil || e.Timestamp.Before(*start.StartDate) {
					t.Errorf("event %d: id %d prev %d time %v", i, e.Id, e.PreviousEventId, e.Timestamp)
				}
			}
		})
	}
}

func TestExecutionOutputAndFailureDetails(t *testing.T) {
	t.Parallel()
	_, client, machine := newSFN(t, awstest.Outcome{})
	ok, err := client.StartExecution(t.Context(), &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String("ok"), Input: aws.String(testInput)})
	if err != nil {
		t.Fatal(err)
	}
	end := waitEnd(t, client, *ok.ExecutionArn)
	var out map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(end.Output)), &out); err != nil {
		t.Fatalf("output %q: %v", aws.ToString(end.Output), err)
	}
	if out["blueServiceUrl"] != "http://web-blue.awstest.invalid" || out["greenServiceUrl"] != "http://web-green.awstest.invalid" ||
		out["taskDefinitionArn"] != "arn:aws:ecs:us-east-1:123456789012:task-definition/web-task:1" || out["imageUri"] != "127.0.0.1:5000/acme-web:abc" {
		t.Errorf("output = %v", out)
	}
	if end.StopDate == nil || end.StopDate.Before(*end.StartDate) {
		t.Errorf("stopDate %v, startDate %v", end.StopDate, end.StartDate)
	}

	srv, client, machine := newSFN(t, awstest.Outcome{})
	srv.SetExecutionOutcome("bad", awstest.Outcome{FailAt: "BlueGreenDeployment", Error: "HealthCheckFailed", Cause: "green target group unhealthy"})
	bad, err := client.StartExecution(t.Context(), &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String("bad"), Input: aws.String(testInput)})
	if err != nil {
		t.Fatal(err)
	}
	end = waitEnd(t, client, *bad.ExecutionArn)
	// The Fail state's Error and Cause are JSONata expressions over the caught
	// error, which the server stands in for with that error.
	if aws.ToString(end.Error) != "HealthCheckFailed" || aws.ToString(end.Cause) != "green target group unhealthy" {
		t.Errorf("execution error = %q, cause %q; want the caught error", aws.ToString(end.Error), aws.ToString(end.Cause))
	}
	var failed *sfntypes.TaskFailedEventDetails
	for _, e := range history(t, client, *bad.ExecutionArn) {
		if e.TaskFailedEventDetails != nil {
			failed = e.TaskFailedEventDetails
		}
	}
	if failed == nil || aws.ToString(failed.Error) != "HealthCheckFailed" || aws.ToString(failed.Cause) != "green target group unhealthy" || aws.ToString(failed.ResourceType) != "aws-sdk:ecs" || aws.ToString(failed.Resource) != "describeServiceDeployments" {
		t.Errorf("TaskFailed details = %+v", failed)
	}
}

func TestStartExecutionIdempotencyAndValidation(t *testing.T) {
	t.Parallel()
	srv, client, machine := newSFN(t, awstest.Outcome{HangAt: "BlueGreenDeployment"})
	ctx := t.Context()
	start := func(name, input string) (*sfn.StartExecutionOutput, error) {
		return client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String(name), Input: aws.String(input)})
	}
	first, err := start("dep_same", testInput)
	if err != nil {
		t.Fatal(err)
	}
	again, err := start("dep_same", testInput)
	if err != nil || aws.ToString(again.ExecutionArn) != aws.ToString(first.ExecutionArn) || !again.StartDate.Equal(*first.StartDate) {
		t.Fatalf("same name and input while running: %v, %+v", err, again)
	}
	var exists *sfntypes.ExecutionAlreadyExists
	if _, err := start("dep_same", `{"other":true}`); !errors.As(err, &exists) {
		t.Errorf("same name, other input: %v, want ExecutionAlreadyExists", err)
	}
	var invalidName *sfntypes.InvalidName
	for _, name := range []string{"", "has space", "a/b", "a:b", strings.Repeat("x", 81)} {
		if _, err := start(name, testInput); !errors.As(err, &invalidName) {
			t.Errorf("name %q: %v, want InvalidName", name, err)
		}
	}
	var invalidInput *sfntypes.InvalidExecutionInput
	if _, err := start("dep_badinput", "{not json"); !errors.As(err, &invalidInput) {
		t.Errorf("bad input: %v, want InvalidExecutionInput", err)
	}
	var noMachine *sfntypes.StateMachineDoesNotExist
	if _, err := client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(srv.StateMachineARN("nope")), Name: aws.String("x")}); !errors.As(err, &noMachine) {
		t.Errorf("unknown machine: %v, want StateMachineDoesNotExist", err)
	}
	var invalidARN *sfntypes.InvalidArn
	if _, err := client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:x"), Name: aws.String("x")}); !errors.As(err, &invalidARN) {
		t.Errorf("bad ARN: %v, want InvalidArn", err)
	}
	if got := len(srv.Executions(machine)); got != 1 {
		t.Errorf("%d executions, want 1", got)
	}

	// Once the execution has ended, even the same input is refused, as in AWS.
	if _, err := client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: first.ExecutionArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := start("dep_same", testInput); !errors.As(err, &exists) {
		t.Errorf("same name after the end: %v, want ExecutionAlreadyExists", err)
	}
}

func TestHangStopAndList(t *testing.T) {
	t.Parallel()
	_, client, machine := newSFN(t, awstest.Outcome{HangAt: "BlueGreenDeployment"})
	ctx := t.Context()
	var arns []string
	for _, name := range []string{"one", "two", "three"} {
		out, err := client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String(name), Input: aws.String(testInput)})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, *out.ExecutionArn)
	}
	time.Sleep(100 * time.Millisecond) // 100 steps: far past the hanging state
	d, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arns[0])})
	if err != nil || d.Status != sfntypes.ExecutionStatusRunning {
		t.Fatalf("hanging execution: %v %v, want RUNNING", err, d.Status)
	}
	stop, err := client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arns[1]), Error: aws.String("Canceled"), Cause: aws.String("canceled by octocat")})
	if err != nil || stop.StopDate == nil {
		t.Fatalf("stop: %v %+v", err, stop)
	}
	events := history(t, client, arns[1])
	last := events[len(events)-1]
	if last.Type != sfntypes.HistoryEventTypeExecutionAborted || aws.ToString(last.ExecutionAbortedEventDetails.Cause) != "canceled by octocat" {
		t.Errorf("last event = %s %+v", last.Type, last.ExecutionAbortedEventDetails)
	}

	listed := func(status sfntypes.ExecutionStatus, max int32) []string {
		var names []string
		p := sfn.NewListExecutionsPaginator(client, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machine), StatusFilter: status, MaxResults: max})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Executions {
				names = append(names, aws.ToString(e.Name))
			}
		}
		return names
	}
	if got := listed("", 2); !slices.Equal(got, []string{"three", "two", "one"}) {
		t.Errorf("all executions (pages of 2) = %v, want newest first", got)
	}
	if got := listed(sfntypes.ExecutionStatusRunning, 0); !slices.Equal(got, []string{"three", "one"}) {
		t.Errorf("running = %v", got)
	}
	if got := listed(sfntypes.ExecutionStatusAborted, 0); !slices.Equal(got, []string{"two"}) {
		t.Errorf("aborted = %v", got)
	}
}

func TestHistoryPagingReverse(t *testing.T) {
	t.Parallel()
	_, client, machine := newSFN(t, awstest.Outcome{})
	out, err := client.StartExecution(t.Context(), &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String("rev"), Input: aws.String(testInput)})
	if err != nil {
		t.Fatal(err)
	}
	waitEnd(t, client, *out.ExecutionArn)
	forward := history(t, client, *out.ExecutionArn)
	var ids []int64
	p := sfn.NewGetExecutionHistoryPaginator(client, &sfn.GetExecutionHistoryInput{ExecutionArn: out.ExecutionArn, ReverseOrder: true, MaxResults: 4})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range page.Events {
			ids = append(ids, e.Id)
		}
	}
	if len(ids) != len(forward) || ids[0] != int64(len(forward)) || ids[len(ids)-1] != 1 {
		t.Fatalf("reverse ids = %v (%d forward events)", ids, len(forward))
	}
	if want := (len(forward) + 3) / 4; pages != want {
		t.Errorf("%d pages of 4, want %d", pages, want)
	}
	_, err = client.GetExecutionHistory(t.Context(), &sfn.GetExecutionHistoryInput{ExecutionArn: out.ExecutionArn, NextToken: aws.String("garbage")})
	var badToken *sfntypes.InvalidToken
	if !errors.As(err, &badToken) {
		t.Errorf("garbage token: %v, want InvalidToken", err)
	}
}

func TestDescribeStateMachine(t *testing.T) {
	t.Parallel()
	_, client, machine := newSFN(t, awstest.Outcome{})
	out, err := client.DescribeStateMachine(t.Context(), &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machine)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Definition) != string(awstest.BlueGreenDefinition()) || aws.ToString(out.Name) != "panda-bluegreen" || out.Type != sfntypes.StateMachineTypeStandard {
		t.Errorf("state machine = %s %s", aws.ToString(out.Name), out.Type)
	}
}

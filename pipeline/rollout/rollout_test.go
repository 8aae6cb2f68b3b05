package rollout_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/rollout"
	"github.com/pandadeploy/panda/retry"
)

// countingSFN counts GetExecutionHistory calls and the events they returned.
type countingSFN struct {
	rollout.SFN
	mu     sync.Mutex
	calls  int
	events int
}

func (c *countingSFN) GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, optFns ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error) {
	out, err := c.SFN.GetExecutionHistory(ctx, in, optFns...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if out != nil {
		c.events += len(out.Events)
	}
	return out, err
}

func (c *countingSFN) take() (calls, events int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, events = c.calls, c.events
	c.calls, c.events = 0, 0
	return calls, events
}

type fixture struct {
	srv     *awstest.Server
	counter *countingSFN
	client  *rollout.Client
	machine string
}

func newFixture(t *testing.T, step time.Duration, definition []byte) *fixture {
	t.Helper()
	srv := awstest.NewServer(t, awstest.WithStep(step))
	machine := srv.StateMachineARN("panda-bluegreen")
	srv.AddStateMachine(machine, definition)
	counter := &countingSFN{SFN: sfn.NewFromConfig(srv.Config())}
	return &fixture{srv: srv, counter: counter, client: &rollout.Client{SFN: counter}, machine: machine}
}

func (f *fixture) request(name string) rollout.StartRequest {
	return rollout.StartRequest{StateMachineARN: f.machine, Name: name, Input: rollout.Input{
		ImageURI: "127.0.0.1:5000/acme-web:0123abc", Cluster: "prod", Service: "web", TaskFamily: "web-task",
		ContainerPort: 8080, DesiredCount: 2, Repository: "acme/web", Commit: "0123abc", Environment: "production", DeploymentID: name,
	}}
}

// follow polls until the execution ends and returns every state event and the last progress.
func (f *fixture) follow(t *testing.T, arn string) ([]rollout.StateEvent, rollout.Progress) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var all []rollout.StateEvent
	var cur rollout.Cursor
	for {
		p, err := f.client.Poll(ctx, arn, cur)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		all = append(all, p.Events...)
		if p.Done {
			return all, p
		}
		cur = p.Cursor
		select {
		case <-ctx.Done():
			t.Fatalf("execution did not end; last cursor %+v", cur)
		case <-time.After(3 * time.Millisecond):
		}
	}
}

func (f *fixture) start(t *testing.T, name string) string {
	t.Helper()
	arn, err := f.client.Start(t.Context(), f.request(name))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return arn
}

// steps renders state events as "State:phase" for comparison.
func steps(events []rollout.StateEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.State+":"+string(e.Phase))
	}
	return out
}

func okStates(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n+":entered", n+":exited")
	}
	return out
}

// The executions below walk the shipped deploy/aws/bluegreen.asl.json.
func TestFollowOutcomes(t *testing.T) {
	t.Parallel()
	untilUpdate := okStates("EnsureInfra", "CheckInfra", "EnsureListeners", "EnsureLoadBalancer", "ReadTaskDefinition", "RegisterTaskDefinition")
	tests := []struct {
		name        string
		outcome     awstest.Outcome
		wantStatus  rollout.Status
		wantSteps   []string
		wantFailure *rollout.Failure
	}{
		{
			name:       "success",
			wantStatus: rollout.StatusSucceeded,
			wantSteps:  slices.Concat(untilUpdate, okStates("UpdateService", "HaveDeployment", "BlueGreenDeployment", "DeploymentStatus", "DeploymentSucceeded")),
		},
		{
			name:       "success_after_polling",
			outcome:    awstest.Outcome{ChoicesInTurn: map[string][]string{"DeploymentStatus": {"WaitForDeployment"}}},
			wantStatus: rollout.StatusSucceeded,
			wantSteps: slices.Concat(untilUpdate, okStates("UpdateService", "HaveDeployment", "BlueGreenDeployment", "DeploymentStatus", "WaitForDeployment",
				"BlueGreenDeployment", "DeploymentStatus", "DeploymentSucceeded")),
		},
		{
			// ECS refused the update, so nothing changed and nothing is rolled back.
			name:       "fail_update_service",
			outcome:    awstest.Outcome{FailAt: "UpdateService", Error: "Ecs.ServiceNotFoundException", Cause: "service web not found"},
			wantStatus: rollout.StatusFailed,
			wantSteps: slices.Concat(untilUpdate,
				[]string{"UpdateService:entered", "UpdateService:failed", "UpdateService:exited", "DeploymentFailed:entered"}),
			wantFailure: &rollout.Failure{State: "UpdateService", Error: "Ecs.ServiceNotFoundException", Cause: "service web not found"},
		},
		{
			name:       "fail_bluegreen_rolls_back",
			outcome:    awstest.Outcome{FailAt: "BlueGreenDeployment", Error: "Ecs.AccessDeniedException", Cause: "not allowed"},
			wantStatus: rollout.StatusFailed,
			wantSteps: slices.Concat(untilUpdate, okStates("UpdateService", "HaveDeployment"),
				[]string{"BlueGreenDeployment:entered", "BlueGreenDeployment:failed", "BlueGreenDeployment:exited"},
				okStates("RollbackDeployment", "RollbackWait", "RollbackStatus", "RollbackDone", "ReadStoppedTasks", "HasStoppedTasks"), []string{"DeploymentFailed:entered"}),
			wantFailure: &rollout.Failure{State: "BlueGreenDeployment", Error: "Ecs.AccessDeniedException", Cause: "not allowed"},
		},
		{
			// The deployment did not succeed in time (or reported an unexpected
			// status): no task failed, the execution fails through RollbackDeployment.
			name:       "status_rolls_back",
			outcome:    awstest.Outcome{Choices: map[string]string{"DeploymentStatus": "RollbackDeployment"}},
			wantStatus: rollout.StatusFailed,
			wantSteps: slices.Concat(untilUpdate, okStates("UpdateService", "HaveDeployment", "BlueGreenDeployment", "DeploymentStatus", "RollbackDeployment",
				"RollbackWait", "RollbackStatus", "RollbackDone", "ReadStoppedTasks", "HasStoppedTasks"),
				[]string{"DeploymentFailed:entered"}),
			wantFailure: &rollout.Failure{State: "DeploymentFailed", Error: "States.Failed", Cause: "The execution failed at DeploymentFailed."},
		},
		{
			name:        "timeout",
			outcome:     awstest.Outcome{TimeOutAt: "BlueGreenDeployment"},
			wantStatus:  rollout.StatusTimedOut,
			wantSteps:   append(slices.Concat(untilUpdate, okStates("UpdateService", "HaveDeployment")), "BlueGreenDeployment:entered"),
			wantFailure: &rollout.Failure{State: "BlueGreenDeployment", Error: "States.Timeout", Cause: "The execution timed out."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, time.Millisecond, awstest.BlueGreenDefinition())
			f.srv.SetOutcome(f.machine, tt.outcome)
			events, p := f.follow(t, f.start(t, "dep_"+tt.name))
			if p.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s", p.Status, tt.wantStatus)
			}
			if !slices.Equal(steps(events), tt.wantSteps) {
				t.Errorf("steps:\n got %v\nwant %v", steps(events), tt.wantSteps)
			}
			if (p.Failure == nil) != (tt.wantFailure == nil) || (p.Failure != nil && *p.Failure != *tt.wantFailure) {
				t.Errorf("failure = %+v, want %+v", p.Failure, tt.wantFailure)
			}
			for i := 1; i < len(events); i++ {
				if events[i].Time.Before(events[i-1].Time) {
					t.Errorf("event %d at %v is before event %d at %v", i, events[i].Time, i-1, events[i-1].Time)
				}
			}
			if tt.wantStatus != rollout.StatusSucceeded {
				return
			}
			want := rollout.Output{BlueURL: "http://web-blue.awstest.invalid", GreenURL: "http://web-green.awstest.invalid",
				TaskDefinitionARN: "arn:aws:ecs:us-east-1:123456789012:task-definition/web-task:1"}
			if p.Output != want {
				t.Errorf("output = %+v, want %+v", p.Output, want)
			}
		})
	}
}

// rollbackSucceeds is a definition whose rollback path ends in a Succeed state
// with rolledBack in its output, as some blue/green machines are written.
const rollbackSucceeds = `{
  "StartAt": "BlueGreenDeployment",
  "States": {
    "BlueGreenDeployment": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Rollback"}], "End": true},
    "Rollback": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "MarkRolledBack"},
    "MarkRolledBack": {"Type": "Pass", "Result": true, "ResultPath": "$.rolledBack", "Next": "Done"},
    "Done": {"Type": "Succeed"}
  }
}`

func TestSucceededAfterRollbackIsFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		output json.RawMessage
	}{
		{name: "rollback_state_entered"},
		// Even if the output did not say so, entering Rollback is a failed deployment.
		{name: "output_silent", output: json.RawMessage(`{"blueServiceUrl":"http://b"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, time.Millisecond, []byte(rollbackSucceeds))
			f.srv.SetOutcome(f.machine, awstest.Outcome{FailAt: "BlueGreenDeployment", Error: "HealthCheckFailed", Cause: "green unhealthy", Output: tt.output})
			_, p := f.follow(t, f.start(t, "dep_rb"))
			if p.Status != rollout.StatusFailed || p.Failure == nil || p.Failure.State != "BlueGreenDeployment" || p.Failure.Error != "HealthCheckFailed" {
				t.Errorf("status %s, failure %+v; want FAILED at BlueGreenDeployment", p.Status, p.Failure)
			}
		})
	}
}

func TestOutputRolledBackIsFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, time.Millisecond, awstest.BlueGreenDefinition())
	f.srv.SetOutcome(f.machine, awstest.Outcome{Output: json.RawMessage(`{"rolledBack":true,"blueServiceUrl":"http://b"}`)})
	_, p := f.follow(t, f.start(t, "dep_out"))
	if p.Status != rollout.StatusFailed || p.Failure == nil || p.Failure.Error != "RolledBack" {
		t.Errorf("status %s, failure %+v; want FAILED with RolledBack", p.Status, p.Failure)
	}
}

func TestNeverEndingKeepsReportingNotDone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, time.Millisecond, awstest.BlueGreenDefinition())
	f.srv.SetOutcome(f.machine, awstest.Outcome{HangAt: "BlueGreenDeployment"})
	arn := f.start(t, "dep_hang")
	time.Sleep(50 * time.Millisecond) // the history has reached the hanging state
	var cur rollout.Cursor
	var intervals []time.Duration
	for i := range 8 {
		p, err := f.client.Poll(t.Context(), arn, cur)
		if err != nil {
			t.Fatal(err)
		}
		if p.Done {
			t.Fatalf("poll %d: done with %s", i, p.Status)
		}
		if i > 0 && len(p.Events) > 0 {
			t.Errorf("poll %d: %d new events from a hanging execution", i, len(p.Events))
		}
		cur = p.Cursor
		intervals = append(intervals, rollout.NextInterval(cur))
	}
	if cur.State != "BlueGreenDeployment" || cur.Polls != 8 {
		t.Errorf("cursor = %+v", cur)
	}
	if intervals[0] != time.Second || intervals[len(intervals)-1] != 15*time.Second || !slices.IsSorted(intervals) {
		t.Errorf("intervals = %v, want 1s growing to 15s", intervals)
	}

	if err := f.client.Stop(t.Context(), arn, "canceled by octocat"); err != nil {
		t.Fatal(err)
	}
	p, err := f.client.Poll(t.Context(), arn, cur)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Done || p.Status != rollout.StatusAborted || p.Failure == nil || p.Failure.Cause != "canceled by octocat" || p.Failure.State != "BlueGreenDeployment" {
		t.Errorf("after stop: done %v status %s failure %+v", p.Done, p.Status, p.Failure)
	}
}

func TestPollReadsOnlyNewEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 15*time.Millisecond, awstest.BlueGreenDefinition())
	arn := f.start(t, "dep_incremental")
	var cur rollout.Cursor
	var ids []int64
	polls := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); polls++ {
		f.counter.take()
		p, err := f.client.Poll(t.Context(), arn, cur)
		if err != nil {
			t.Fatal(err)
		}
		calls, read := f.counter.take()
		fresh := int(p.Cursor.LastEventID - cur.LastEventID)
		// One probe, plus one page of exactly the new events. When events
		// arrive between the two, one more page finishes the job, re-reading
		// fewer events than there are new ones.
		limit := fresh + 1
		if calls == 3 {
			limit = 2*fresh + 1
		}
		if calls > 3 || read > limit {
			t.Errorf("poll %d: %d history calls read %d events for %d new ones", polls, calls, read, fresh)
		}
		for id := cur.LastEventID + 1; id <= p.Cursor.LastEventID; id++ {
			ids = append(ids, id)
		}
		cur = p.Cursor
		if p.Done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(ids) == 0 || ids[len(ids)-1] != int64(len(ids)) {
		t.Fatalf("event ids seen %v: want 1..N each once", ids)
	}
	if polls < 5 {
		t.Errorf("only %d polls: the test did not observe an execution in progress", polls)
	}
}

func TestStartIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, time.Millisecond, awstest.BlueGreenDefinition())
	first := f.start(t, "dep_crash")
	// A worker that crashed after StartExecution runs the task again, while
	// the execution runs and after it has ended (when AWS refuses even the
	// same input with ExecutionAlreadyExists).
	again := f.start(t, "dep_crash")
	f.follow(t, first)
	late := f.start(t, "dep_crash")
	if again != first || late != first {
		t.Errorf("ARNs %s, %s, %s; want one", first, again, late)
	}
	if n := len(f.srv.Executions(f.machine)); n != 1 {
		t.Errorf("%d executions, want 1", n)
	}
	if n := f.srv.CallCount("DescribeExecution"); n < 1 {
		t.Errorf("ExecutionAlreadyExists was not resolved by looking the execution up")
	}
}

func TestStartErrorsAreClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		setup         func(*fixture)
		req           func(*fixture) rollout.StartRequest
		wantPermanent bool
		wantWait      bool // a *retry.WaitError, so the task backs off further
	}{
		{name: "throttled", setup: func(f *fixture) { f.srv.Throttle("StartExecution", 10) }, wantPermanent: false, wantWait: true},
		{name: "server_error", setup: func(f *fixture) { f.srv.FailInternal("StartExecution", 10) }, wantPermanent: false},
		{name: "unknown_state_machine", req: func(f *fixture) rollout.StartRequest {
			r := f.request("dep_x")
			r.StateMachineARN = f.srv.StateMachineARN("missing")
			return r
		}, wantPermanent: true},
		{name: "invalid_arn", req: func(f *fixture) rollout.StartRequest {
			r := f.request("dep_x")
			r.StateMachineARN = "arn:aws:lambda:us-east-1:123456789012:function:nope"
			return r
		}, wantPermanent: true},
		{name: "invalid_name", req: func(f *fixture) rollout.StartRequest { return f.request("dep x/1") }, wantPermanent: true},
		{name: "made_up_partition", req: func(f *fixture) rollout.StartRequest {
			r := f.request("dep_x")
			r.StateMachineARN = strings.Replace(f.machine, "arn:aws:", "arn:aws-foo:", 1)
			return r
		}, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, time.Millisecond, awstest.BlueGreenDefinition())
			req := f.request("dep_x")
			if tt.setup != nil {
				tt.setup(f)
			}
			if tt.req != nil {
				req = tt.req(f)
			}
			_, err := f.client.Start(t.Context(), req)
			if err == nil {
				t.Fatal("Start succeeded")
			}
			if got := pipeline.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.wantPermanent)
			}
			if got := errors.As(err, new(*retry.WaitError)); got != tt.wantWait {
				t.Errorf("wait in %v: %v, want %v", err, got, tt.wantWait)
			}
			if msg := pipeline.UserMessage(err, ""); msg == "" {
				t.Errorf("no user message for %v", err)
			}
			if n := len(f.srv.Executions(f.machine)); n != 0 {
				t.Errorf("%d executions started", n)
			}
		})
	}
}

func TestPollUnknownExecutionIsPermanent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, time.Millisecond, awstest.BlueGreenDefinition())
	arn, err := rollout.ExecutionARN(f.machine, "never-started")
	if err != nil {
		t.Fatal(err)
	}
	cur := rollout.Cursor{LastEventID: 3, Polls: 2}
	p, err := f.client.Poll(t.Context(), arn, cur)
	if !pipeline.IsPermanent(err) || p.Cursor != cur {
		t.Errorf("err %v (permanent %v), cursor %+v; want permanent and the cursor unchanged", err, pipeline.IsPermanent(err), p.Cursor)
	}
}

func TestExecutionARN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, machine, want string
		wantErr             bool
	}{
		{name: "plain", machine: "arn:aws:states:eu-west-1:111122223333:stateMachine:bg", want: "arn:aws:states:eu-west-1:111122223333:execution:bg:dep_1"},
		{name: "version", machine: "arn:aws:states:eu-west-1:111122223333:stateMachine:bg:3", want: "arn:aws:states:eu-west-1:111122223333:execution:bg:dep_1"},
		{name: "china", machine: "arn:aws-cn:states:cn-north-1:111122223333:stateMachine:bg", want: "arn:aws-cn:states:cn-north-1:111122223333:execution:bg:dep_1"},
		{name: "not_states", machine: "arn:aws:lambda:eu-west-1:111122223333:function:bg", wantErr: true},
		{name: "garbage", machine: "bg", wantErr: true},
		{name: "alias", machine: "arn:aws-us-gov:states:us-gov-west-1:111122223333:stateMachine:bg:prod", want: "arn:aws-us-gov:states:us-gov-west-1:111122223333:execution:bg:dep_1"},
		{name: "made_up_partition", machine: "arn:aws-foo:states:eu-west-1:111122223333:stateMachine:bg", wantErr: true},
		{name: "region_of_other_partition", machine: "arn:aws-cn:states:eu-west-1:111122223333:stateMachine:bg", wantErr: true},
		{name: "short_account", machine: "arn:aws:states:eu-west-1:123:stateMachine:bg", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := rollout.ExecutionARN(tt.machine, "dep_1")
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ExecutionARN(%q) = %q, %v; want %q (error %v)", tt.machine, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNextInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		idle int
		want time.Duration
	}{
		{name: "active", idle: 0, want: time.Second},
		{name: "one_quiet", idle: 1, want: 1500 * time.Millisecond},
		{name: "two_quiet", idle: 2, want: 2250 * time.Millisecond},
		{name: "capped", idle: 7, want: 15 * time.Second},
		{name: "long_quiet", idle: 500, want: 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := rollout.NextInterval(rollout.Cursor{Idle: tt.idle}); got != tt.want {
				t.Errorf("NextInterval(idle %d) = %v, want %v", tt.idle, got, tt.want)
			}
		})
	}
}

func TestCursorRoundTripsThroughJSON(t *testing.T) {
	t.Parallel()
	cur := rollout.Cursor{LastEventID: 12, Polls: 4, Idle: 1, StartedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), State: "UpdateService",
		Failure: &rollout.Failure{State: "UpdateService", Error: "E", Cause: "C"}, RolledBack: true}
	b, err := json.Marshal(cur)
	if err != nil {
		t.Fatal(err)
	}
	var back rollout.Cursor
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.LastEventID != 12 || !back.StartedAt.Equal(cur.StartedAt) || *back.Failure != *cur.Failure || !back.RolledBack || back.State != "UpdateService" {
		t.Errorf("round trip: %+v", back)
	}
	if !cur.TimedOut(cur.StartedAt.Add(31*time.Minute), 0) || cur.TimedOut(cur.StartedAt.Add(29*time.Minute), 0) {
		t.Errorf("TimedOut does not apply the 30 minute default")
	}
}

// TestInputOmitsAnUnsetDesiredCount: with no desired_count the input carries
// none, and the shipped state machine keeps the service's count (a 3-task
// service stays at 3); a count that is set is sent.
func TestInputOmitsAnUnsetDesiredCount(t *testing.T) {
	unset, _ := json.Marshal(rollout.Input{Cluster: "c", Service: "s"})
	if strings.Contains(string(unset), "desiredCount") {
		t.Errorf("input without a count carries one: %s", unset)
	}
	set, _ := json.Marshal(rollout.Input{Cluster: "c", Service: "s", DesiredCount: 3})
	if !strings.Contains(string(set), `"desiredCount":3`) {
		t.Errorf("input with a count of 3: %s", set)
	}
}

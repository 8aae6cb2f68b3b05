package rollout

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// Phase is what happened to a state.
type Phase string

// The phases of a state reported in StateEvent.
const (
	PhaseEntered Phase = "entered"
	PhaseExited  Phase = "exited"
	PhaseFailed  Phase = "failed"
)

// StateEvent is one step of the execution: a state (EnsureInfra,
// RegisterTaskDefinition, UpdateService, BlueGreenDeployment, Rollback, …)
// was entered, exited, or failed with Error and Cause.
type StateEvent struct {
	State string
	Phase Phase
	Time  time.Time
	Error string
	Cause string
}

// Status is the final status of an execution.
type Status string

// The final statuses. An execution that reports success after rolling back is StatusFailed.
const (
	StatusSucceeded Status = "SUCCEEDED"
	StatusFailed    Status = "FAILED"
	StatusTimedOut  Status = "TIMED_OUT"
	StatusAborted   Status = "ABORTED"
)

// Output is what a successful execution answers.
type Output struct {
	BlueURL           string `json:"blueServiceUrl"`
	GreenURL          string `json:"greenServiceUrl"`
	TaskDefinitionARN string `json:"taskDefinitionArn"`
	RolledBack        bool   `json:"rolledBack"`
}

// Failure says which state failed and why.
type Failure struct {
	State string `json:"state"`
	Error string `json:"error"`
	Cause string `json:"cause"`
}

// Cursor is where following an execution has got to. It is JSON-serializable
// so it can travel in the re-enqueued task's payload; the zero Cursor starts
// at the beginning of the history.
type Cursor struct {
	LastEventID int64     `json:"lastEventId"`
	Polls       int       `json:"polls"`
	Idle        int       `json:"idle"` // consecutive polls that saw no new event
	StartedAt   time.Time `json:"startedAt"`
	State       string    `json:"state,omitempty"` // the state entered last
	Failure     *Failure  `json:"failure,omitempty"`
	RolledBack  bool      `json:"rolledBack,omitempty"`
	// Updating reports that the execution asked ECS to update the service:
	// from then on ECS may be changing it, and an execution stopped without
	// rolling ECS back would leave ECS shifting traffic on its own.
	Updating bool `json:"updating,omitempty"`
	// Updated reports that ECS answered that UpdateService.
	Updated bool `json:"updated,omitempty"`
	// ServiceDeploymentARN is the ECS service deployment the execution
	// started, once its history shows it.
	ServiceDeploymentARN string `json:"serviceDeploymentArn,omitempty"`
	// ECSAllowance is how long ECS itself may take with that deployment by
	// its configuration (bake time and lifecycle hook timeouts), read from
	// the UpdateService request in the history. TimedOut adds it to the
	// deployment timeout.
	ECSAllowance time.Duration `json:"ecsAllowance,omitempty"`
	// Stop is set once Panda decided to stop the rollout (cancel, timeout).
	Stop *Stop `json:"stop,omitempty"`
	// Awaiting is the PAUSE hook the execution left for Panda to answer,
	// once the history shows it.
	Awaiting *Awaiting `json:"awaiting,omitempty"`
}

// AwaitState is the state of the shipped definition whose output names a
// PAUSE hook for Panda to answer (deploy/aws/bluegreen.asl.json): the
// execution keeps following the service deployment, and answers nothing.
const AwaitState = "AwaitApproval"

// Awaiting is the output of AwaitState: the hook, its service deployment and
// the test listener's URL, and when the history first showed it.
type Awaiting struct {
	HookID               string    `json:"hookId"`
	ServiceDeploymentARN string    `json:"serviceDeploymentArn"`
	TestURL              string    `json:"testUrl"`
	Since                time.Time `json:"since"`
	// Shown reports that the wait was announced (event, check run).
	Shown bool `json:"shown,omitempty"`
	// Action is what Panda answered ECS (CONTINUE or ROLLBACK), once it did;
	// Why says, for ROLLBACK, what the deployment ends with.
	Action string `json:"action,omitempty"`
	Why    string `json:"why,omitempty"`
	// TimedOut reports that Panda answered ROLLBACK because nobody answered in time.
	TimedOut bool `json:"timedOut,omitempty"`
}

// Stop is a stop of the rollout Panda decided on: the status and message it
// ends with once ECS confirms a terminal state.
type Stop struct {
	Status  string    `json:"status"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
	// RollingBack reports that Panda asked ECS to roll the service
	// deployment back and stopped the execution; what is left is awaiting
	// ECS's terminal status.
	RollingBack bool `json:"rollingBack,omitempty"`
	Reads       int  `json:"reads,omitempty"`
}

// Progress is what one Poll saw.
type Progress struct {
	// Events are the state events new since the cursor, in order.
	Events []StateEvent
	// Cursor is the cursor to pass to the next Poll.
	Cursor Cursor
	// Done reports that the execution ended; Status, Output and Failure are then set.
	Done    bool
	Status  Status
	Output  Output
	Failure *Failure
}

// DefaultTimeout is how long a deployment may run before it is given up.
const DefaultTimeout = 30 * time.Minute

// TimedOut reports whether following has lasted longer than timeout (if
// zero, DefaultTimeout) plus what ECS may take by the service deployment's
// own configuration (ECSAllowance), by now: a 30-minute bake time is not a
// stuck deployment.
func (c Cursor) TimedOut(now time.Time, timeout time.Duration) bool {
	return !c.StartedAt.IsZero() && now.Sub(c.StartedAt) > c.Timeout(timeout)
}

// Timeout is the time following may last: timeout (if zero, DefaultTimeout)
// plus ECSAllowance.
func (c Cursor) Timeout(timeout time.Duration) time.Duration {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return timeout + c.ECSAllowance
}

// NextInterval returns how long to wait before the next Poll. Early in a
// rollout it is 1s, so the first states show at once; the floor then rises by
// a second every 10 polls up to 5s, so a state machine that loops on a status
// check (and so always has new events) is not read every second for half an
// hour; quiet polls grow the wait by half each, at most 15s.
func NextInterval(cur Cursor) time.Duration {
	const limit, maxFloor = 15 * time.Second, 5 * time.Second
	d := min(time.Second+time.Duration(cur.Polls/10)*time.Second, maxFloor)
	for range cur.Idle {
		d = d * 3 / 2
		if d >= limit {
			return limit
		}
	}
	return d
}

// Poll reads the history events of the execution that are new since cur, once,
// without waiting, and reports them. It reads only new events: a first call
// asks for the newest event, and only when that is new a second asks for
// exactly the events since cur. On error the cursor is unchanged; errors are
// classified like Start's.
func (c *Client) Poll(ctx context.Context, executionARN string, cur Cursor) (Progress, error) {
	events, err := c.newEvents(ctx, executionARN, cur.LastEventID)
	if err != nil {
		return Progress{Cursor: cur}, classify(err, "read execution history")
	}
	if cur.StartedAt.IsZero() {
		cur.StartedAt = time.Now()
	}
	cur.Polls++
	cur.Idle++
	if len(events) > 0 {
		cur.Idle = 0
	}
	var p Progress
	for _, e := range events {
		p.apply(&cur, e)
		cur.LastEventID = e.Id
	}
	p.Cursor = cur
	return p, nil
}

// newEvents returns the events with an id above after, oldest first.
func (c *Client) newEvents(ctx context.Context, arn string, after int64) ([]types.HistoryEvent, error) {
	probe, err := c.history(ctx, arn, 1, nil)
	if err != nil || len(probe.Events) == 0 || probe.Events[0].Id <= after {
		return nil, err
	}
	want := probe.Events[0].Id - after
	if want == 1 {
		return probe.Events, nil
	}
	var out []types.HistoryEvent // newest first
	var token *string
	for {
		page, err := c.history(ctx, arn, int32(min(want, 1000)), token) // #nosec G115 -- at most 1000
		if err != nil {
			return nil, err
		}
		reached := false
		for _, e := range page.Events {
			if e.Id <= after {
				reached = true
				break
			}
			out = append(out, e)
			reached = e.Id == after+1
		}
		// Events that arrived since the probe push the rest onto later pages.
		if reached || page.NextToken == nil {
			slices.Reverse(out)
			return out, nil
		}
		token = page.NextToken
	}
}

func (c *Client) history(ctx context.Context, arn string, max int32, token *string) (*sfn.GetExecutionHistoryOutput, error) {
	return c.SFN.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn),
		MaxResults:   max,
		NextToken:    token,
		ReverseOrder: true,
	})
}

// isRollback reports whether a state undoes the deployment.
func isRollback(state string) bool {
	return strings.HasPrefix(strings.ToLower(state), "rollback")
}

// apply folds one history event into the progress and the cursor.
func (p *Progress) apply(cur *Cursor, e types.HistoryEvent) {
	at := aws.ToTime(e.Timestamp)
	if d := e.StateEnteredEventDetails; d != nil {
		cur.State = aws.ToString(d.Name)
		cur.RolledBack = cur.RolledBack || isRollback(cur.State)
		p.Events = append(p.Events, StateEvent{State: cur.State, Phase: PhaseEntered, Time: at})
		return
	}
	if d := e.StateExitedEventDetails; d != nil {
		p.Events = append(p.Events, StateEvent{State: aws.ToString(d.Name), Phase: PhaseExited, Time: at})
		if aws.ToString(d.Name) == AwaitState && cur.Awaiting == nil {
			cur.Awaiting = awaiting(aws.ToString(d.Output), at)
		}
		return
	}
	if d := e.TaskScheduledEventDetails; d != nil {
		cur.scheduled(aws.ToString(d.Resource), aws.ToString(d.Parameters))
		return
	}
	if d := e.TaskSucceededEventDetails; d != nil {
		cur.succeeded(aws.ToString(d.Resource), aws.ToString(d.Output))
		return
	}
	if errName, cause, ok := taskFailure(e); ok {
		p.Events = append(p.Events, StateEvent{State: cur.State, Phase: PhaseFailed, Time: at, Error: errName, Cause: cause})
		if cur.Failure == nil {
			cur.Failure = &Failure{State: cur.State, Error: errName, Cause: cause}
		}
		return
	}
	p.end(cur, e)
}

// end handles the events that end an execution.
func (p *Progress) end(cur *Cursor, e types.HistoryEvent) {
	var errName, cause *string
	switch e.Type {
	case types.HistoryEventTypeExecutionSucceeded:
		p.Done, p.Status = true, StatusSucceeded
		if d := e.ExecutionSucceededEventDetails; d != nil {
			_ = json.Unmarshal([]byte(aws.ToString(d.Output)), &p.Output) // a non-JSON output has no URLs
		}
		if p.Output.RolledBack || cur.RolledBack {
			p.Status = StatusFailed
			p.Failure = cur.Failure
			if p.Failure == nil {
				p.Failure = &Failure{State: cur.State, Error: "RolledBack", Cause: "The deployment was rolled back."}
			}
		}
		return
	case types.HistoryEventTypeExecutionFailed:
		p.Status = StatusFailed
		if d := e.ExecutionFailedEventDetails; d != nil {
			errName, cause = d.Error, d.Cause
		}
	case types.HistoryEventTypeExecutionAborted:
		p.Status = StatusAborted
		if d := e.ExecutionAbortedEventDetails; d != nil {
			errName, cause = d.Error, d.Cause
		}
	case types.HistoryEventTypeExecutionTimedOut:
		p.Status = StatusTimedOut
		if d := e.ExecutionTimedOutEventDetails; d != nil {
			errName, cause = d.Error, d.Cause
		}
	default:
		return
	}
	p.Done = true
	// The first failed task says more than the Fail state a rollback ends in.
	p.Failure = cur.Failure
	if p.Failure == nil || p.Status != StatusFailed {
		p.Failure = &Failure{State: cur.State, Error: aws.ToString(errName), Cause: aws.ToString(cause)}
	}
}

// taskFailure returns the error of the events that make a Task state fail.
func taskFailure(e types.HistoryEvent) (errName, cause string, ok bool) {
	switch {
	case e.TaskFailedEventDetails != nil:
		return aws.ToString(e.TaskFailedEventDetails.Error), aws.ToString(e.TaskFailedEventDetails.Cause), true
	case e.TaskTimedOutEventDetails != nil:
		return aws.ToString(e.TaskTimedOutEventDetails.Error), aws.ToString(e.TaskTimedOutEventDetails.Cause), true
	case e.TaskStartFailedEventDetails != nil:
		return aws.ToString(e.TaskStartFailedEventDetails.Error), aws.ToString(e.TaskStartFailedEventDetails.Cause), true
	case e.TaskSubmitFailedEventDetails != nil:
		return aws.ToString(e.TaskSubmitFailedEventDetails.Error), aws.ToString(e.TaskSubmitFailedEventDetails.Cause), true
	case e.LambdaFunctionFailedEventDetails != nil:
		return aws.ToString(e.LambdaFunctionFailedEventDetails.Error), aws.ToString(e.LambdaFunctionFailedEventDetails.Cause), true
	case e.ActivityFailedEventDetails != nil:
		return aws.ToString(e.ActivityFailedEventDetails.Error), aws.ToString(e.ActivityFailedEventDetails.Cause), true
	}
	return "", "", false
}

// awaiting reads AwaitState's output; one that names no hook (a definition
// of another shape) is none.
func awaiting(output string, at time.Time) *Awaiting {
	var a Awaiting
	if json.Unmarshal([]byte(output), &a) != nil || a.HookID == "" || !strings.HasPrefix(a.ServiceDeploymentARN, "arn:") {
		return nil
	}
	a.Since = at
	return &a
}

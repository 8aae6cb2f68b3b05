// Package events defines every kind of event a deployment's event stream
// holds: one Go type per kind, whose fields are the event's details.
//
// The stream is what the SSE endpoint (GET /api/v1/deploy/{id}/events) and the
// deployment page read. Each entry is the seed system's JSON shape
//
//	{"type": "stage", "stage": "build", "message": "Docker Build started",
//	 "timestamp": "2024-05-01T12:00:00Z", "details": {"phase": "started", "state": "started"}}
//
// where type is the SSE event name (stage, done or error), stage is the
// pipeline stage the event belongs to (absent for whole-deployment events),
// and details are the fields of the kind's type below, with the JSON names
// their tags give. Every details object carries "phase", which names its kind
// (see the Phase constants); the final events, written before phase existed,
// are told apart by their type.
//
// These types are the documentation of the stream: the deployment page reads
// only the fields they declare. Fields are only ever added, and their JSON
// names never change, because streams written by an earlier version (kept for
// 30 days) must still read the same: Parse reads those too.
//
// Package store keeps the envelope (store.Event, with the details as raw JSON)
// and knows nothing of these kinds; package events depends on store, never the
// other way round.
package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// Kind is one kind of event. Event returns it in its envelope, ready for
// store.Store.Append; a zero Timestamp there means "now".
type Kind interface {
	Event() store.Event
}

// Phases: the value of details.phase of each kind.
const (
	PhaseQueued    = "queued"
	PhaseRunning   = "running"
	PhaseStarted   = "started"
	PhaseFinished  = "finished"
	PhaseLog       = "log"
	PhaseRetrying  = "retrying"
	PhaseWaiting   = "waiting"
	PhaseTrigger   = "trigger"
	PhaseExecution = "execution"
	PhaseState     = "state"
	PhaseCancel    = "cancel"
	PhaseRollback  = "rollback"
	PhaseEnded     = "ended"
)

// States: the value of details.state, on the kinds that move a stage along.
const (
	StateStarted   = "started"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
)

// StageTitle is a stage as the seed system's messages name it ("Git Clone
// started", "Docker Build succeeded", "ECR Push started", "Deployment started").
func StageTitle(s pipeline.Stage) string {
	switch s {
	case pipeline.StageClone:
		return "Git Clone"
	case pipeline.StageBuild:
		return "Docker Build"
	case pipeline.StagePush:
		return "ECR Push"
	}
	return "Deployment"
}

// envelope builds an event of type t whose details are d (a struct of this
// package; marshalling it cannot fail: strings, numbers and booleans only).
func envelope(t string, stage pipeline.Stage, msg string, d any) store.Event {
	raw, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("events: marshal %T: %v", d, err)) // a programming error in this package
	}
	return store.Event{Type: t, Stage: string(stage), Message: msg, Details: raw}
}

// Queued is the first event of every deployment: it was accepted and waits
// for a worker. Message: "Queued: deploy abc1234 to production".
type Queued struct {
	Phase string `json:"phase"` // always PhaseQueued
	// Status is always QUEUED.
	Status store.Status `json:"status"`
	// Environment is the environment being deployed to.
	Environment string `json:"environment"`
	// SHA is the full commit being deployed.
	SHA string `json:"sha"`
}

// Event implements Kind.
func (e Queued) Event() store.Event {
	e.Phase, e.Status = PhaseQueued, store.StatusQueued
	return envelope(store.EventStage, "", fmt.Sprintf("Queued: deploy %s to %s", names.ShortSHA(e.SHA), e.Environment), e)
}

// Running says a worker took the deployment up. Message: "Running: deploy
// abc1234 to production".
type Running struct {
	Phase string `json:"phase"` // always PhaseRunning
	// Status is always RUNNING.
	Status      store.Status `json:"status"`
	Environment string       `json:"environment"`
	SHA         string       `json:"sha"`
}

// Event implements Kind.
func (e Running) Event() store.Event {
	e.Phase, e.Status = PhaseRunning, store.StatusRunning
	return envelope(store.EventStage, "", fmt.Sprintf("Running: deploy %s to %s", names.ShortSHA(e.SHA), e.Environment), e)
}

// StageStarted says a stage began. Message: "Git Clone started", "Docker Build
// started", "ECR Push started" or "Deployment started". A stage retried after
// a failure starts again.
type StageStarted struct {
	Stage pipeline.Stage `json:"-"`     // the envelope's stage
	Phase string         `json:"phase"` // always PhaseStarted
	State string         `json:"state"` // always StateStarted
}

// Event implements Kind.
func (e StageStarted) Event() store.Event {
	e.Phase, e.State = PhaseStarted, StateStarted
	return envelope(store.EventStage, e.Stage, StageTitle(e.Stage)+" started", e)
}

// StageSucceeded says a stage (clone, build or push) ended well. Message:
// "Git Clone succeeded". The deploy stage has none: its success is Done.
type StageSucceeded struct {
	Stage pipeline.Stage `json:"-"`
	Phase string         `json:"phase"` // always PhaseFinished
	State string         `json:"state"` // always StateSucceeded
	// Duration is how long the stage took; in JSON, durationMs, integer
	// milliseconds.
	Duration time.Duration `json:"-"`
	// DurationMs is Duration in milliseconds (set by Event).
	DurationMs int64 `json:"durationMs"`
	// ImageURI is the pushed image (repository@digest), once the push stage
	// has succeeded; empty before.
	ImageURI string `json:"imageUri,omitempty"`
}

// Event implements Kind.
func (e StageSucceeded) Event() store.Event {
	e.Phase, e.State, e.DurationMs = PhaseFinished, StateSucceeded, e.Duration.Milliseconds()
	return envelope(store.EventStage, e.Stage, StageTitle(e.Stage)+" succeeded", e)
}

// Log is one line of a stage's output: a build step, push progress. Its
// message is the line itself (it comes from the repository being built:
// readers must show it as text, never as markup).
type Log struct {
	Stage pipeline.Stage `json:"-"`
	Line  string         `json:"-"`     // the message
	Phase string         `json:"phase"` // always PhaseLog
}

// Event implements Kind.
func (e Log) Event() store.Event {
	e.Phase = PhaseLog
	return envelope(store.EventStage, e.Stage, e.Line, e)
}

// StageRetrying says a stage failed in a way worth retrying, and will be.
// Message: the user-facing reason followed by "; retrying".
type StageRetrying struct {
	Stage pipeline.Stage `json:"-"`
	Phase string         `json:"phase"` // always PhaseRetrying
	// Reason is the user-facing reason the attempt failed.
	Reason string `json:"reason"`
}

// Event implements Kind.
func (e StageRetrying) Event() store.Event {
	e.Phase = PhaseRetrying
	return envelope(store.EventStage, e.Stage, e.Reason+"; retrying", e)
}

// Waiting says the rollout waits for another deployment of the same
// environment. Message: "Queued behind dep_… (position N)". Written once per
// wait, not at every re-check.
type Waiting struct {
	Phase string `json:"phase"` // always PhaseWaiting
	// Behind is the deployment holding the environment.
	Behind string `json:"behind"`
	// Position is this deployment's place in the environment's line, from 1.
	Position int `json:"position"`
}

// Event implements Kind.
func (e Waiting) Event() store.Event {
	e.Phase = PhaseWaiting
	return envelope(store.EventStage, pipeline.StageDeploy, fmt.Sprintf("Queued behind %s (position %d)", e.Behind, e.Position), e)
}

// AwaitingTrigger says the image is pushed and the rollout waits for the ECR
// push's EventBridge rule to start the execution (trigger: eventbridge).
// Message: "Waiting for EventBridge to start the rollout".
type AwaitingTrigger struct {
	Phase string `json:"phase"` // always PhaseTrigger
	// Rule is the EventBridge rule expected to start the execution.
	Rule string `json:"rule"`
}

// Event implements Kind.
func (e AwaitingTrigger) Event() store.Event {
	e.Phase = PhaseTrigger
	return envelope(store.EventStage, pipeline.StageDeploy, "Waiting for EventBridge to start the rollout", e)
}

// ExecutionStarted names the Step Functions execution performing the rollout.
// Message: "Step Functions execution started", or "EventBridge started
// execution arn:…" when EventBridge started it.
type ExecutionStarted struct {
	Phase string `json:"phase"` // always PhaseExecution
	// ExecutionARN is the execution's ARN.
	ExecutionARN string `json:"executionArn"`
	// ByEventBridge is true when an EventBridge rule started it, not Panda.
	ByEventBridge bool `json:"byEventBridge,omitempty"`
}

// Event implements Kind.
func (e ExecutionStarted) Event() store.Event {
	e.Phase = PhaseExecution
	msg := "Step Functions execution started"
	if e.ByEventBridge {
		msg = "EventBridge started execution " + e.ExecutionARN
	}
	return envelope(store.EventStage, pipeline.StageDeploy, msg, e)
}

// StateChanged is one step of the rollout's state machine (EnsureInfra,
// RegisterTaskDefinition, UpdateService, BlueGreenDeployment, …): entered,
// exited or failed. Message: "UpdateService entered", "UpdateService failed:
// ECS.ServiceNotFound". Its timestamp is the execution history's, not the
// time Panda read it.
type StateChanged struct {
	// At is when Step Functions recorded it: the envelope's timestamp.
	At    time.Time `json:"-"`
	Phase string    `json:"phase"` // always PhaseState
	// SFNState is the state's name in the state machine.
	SFNState string `json:"sfnState"`
	// SFNPhase is entered, exited or failed.
	SFNPhase string `json:"sfnPhase"`
	// Error is the error name of a failed state (States.TaskFailed, …).
	Error string `json:"error,omitempty"`
}

// Event implements Kind.
func (e StateChanged) Event() store.Event {
	e.Phase = PhaseState
	msg := e.SFNState + " " + e.SFNPhase
	if e.Error != "" {
		msg += ": " + e.Error
	}
	ev := envelope(store.EventStage, pipeline.StageDeploy, msg, e)
	ev.Timestamp = e.At
	return ev
}

// CancelRequested says someone asked to cancel. Message: "Cancelled by
// alice". The deployment's end (CANCELED) follows as an Ended event.
type CancelRequested struct {
	Phase string `json:"phase"` // always PhaseCancel
	// Actor is the GitHub login that pressed Cancel or commented.
	Actor string `json:"actor"`
}

// Event implements Kind.
func (e CancelRequested) Event() store.Event {
	e.Phase = PhaseCancel
	return envelope(store.EventStage, "", "Cancelled by "+e.Actor, e)
}

// RollingBack says a rollback redeploys an image built earlier, so the clone,
// build and push stages are skipped. Message: "Rolling back to <image>".
type RollingBack struct {
	Phase string `json:"phase"` // always PhaseRollback
	// ImageURI is the image being redeployed.
	ImageURI string `json:"imageUri"`
}

// Event implements Kind.
func (e RollingBack) Event() store.Event {
	e.Phase = PhaseRollback
	return envelope(store.EventStage, "", "Rolling back to "+e.ImageURI, e)
}

// Ended is the last event of every deployment: SSE event done when it
// SUCCEEDED (message "Deployment succeeded", stage deploy), error otherwise
// (message: what went wrong, for users; stage: the stage that failed, if one
// did). Nothing follows it; it is never lost (see deployment.Service.Finish).
type Ended struct {
	// Message is the user-facing outcome of a deployment that did not
	// succeed; ignored for SUCCEEDED.
	Message string `json:"-"`
	// FailedStage is the stage that failed, if one did.
	FailedStage pipeline.Stage `json:"-"`

	Phase string `json:"phase"` // always PhaseEnded
	// Status is the final status: SUCCEEDED, FAILED, TIMEOUT, CANCELED or SUPERSEDED.
	Status store.Status `json:"status"`
	// State is succeeded or failed, as on the stage events.
	State string `json:"state"`
	// Total is how long the deployment ran, from its start to its end.
	Total time.Duration `json:"-"`
	// TotalDuration is Total in integer milliseconds (the seed's unit; set by Event).
	TotalDuration int64 `json:"totalDuration"`
	// ImageURI is the image deployed (or built), if one was pushed.
	ImageURI string `json:"imageUri"`
	// BlueServiceURL and GreenServiceURL are where the old and the new
	// version answer, from the execution's output; empty when unknown.
	BlueServiceURL  string `json:"blueServiceUrl"`
	GreenServiceURL string `json:"greenServiceUrl"`
}

// EndedOf is the Ended event of a finished deployment.
func EndedOf(dep *store.Deployment) Ended {
	return Ended{
		Message: dep.Error, FailedStage: pipeline.Stage(dep.ErrorStage),
		Status: dep.Status, Total: dep.Duration(dep.EndedAt), ImageURI: dep.ImageURI,
		BlueServiceURL: dep.BlueURL, GreenServiceURL: dep.GreenURL,
	}
}

// Event implements Kind.
func (e Ended) Event() store.Event {
	e.Phase, e.TotalDuration = PhaseEnded, e.Total.Milliseconds()
	if e.Status == store.StatusSucceeded {
		e.State = StateSucceeded
		return envelope(store.EventDone, pipeline.StageDeploy, "Deployment succeeded", e)
	}
	e.State = StateFailed
	return envelope(store.EventError, e.FailedStage, e.Message, e)
}

package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// Parse reads a stored event back into its kind, with the envelope's fields
// (stage, message, timestamp) filled in. It reads the streams of earlier
// versions too, whose details were written as loose maps with the same field
// names but without a phase on every kind: a queued or running event is then
// known by its status, the execution's start by its executionArn, a retry by
// having no details at all. An event it cannot place is an error, never a
// guess.
func Parse(ev store.Event) (Kind, error) {
	var head struct {
		Phase        string       `json:"phase"`
		Status       store.Status `json:"status"`
		ExecutionARN string       `json:"executionArn"`
	}
	if len(ev.Details) > 0 {
		if err := json.Unmarshal(ev.Details, &head); err != nil {
			return nil, fmt.Errorf("event details: %w", err)
		}
	}
	stage := pipeline.Stage(ev.Stage)
	if ev.Final() {
		var e Ended
		err := decode(ev, &e)
		e.Message, e.FailedStage = ev.Message, stage
		if ev.Type == store.EventDone {
			e.Message, e.FailedStage = "", ""
		}
		e.Total = time.Duration(e.TotalDuration) * time.Millisecond
		return e, err
	}
	if k, ok, err := plain(head.Phase, ev); ok {
		return k, err
	}
	switch head.Phase {
	case PhaseStarted:
		e, err := into[StageStarted](ev)
		e.Stage = stage
		return e, err
	case PhaseFinished:
		e, err := into[StageSucceeded](ev)
		e.Stage, e.Duration = stage, time.Duration(e.DurationMs)*time.Millisecond
		return e, err
	case PhaseLog:
		if head.ExecutionARN != "" { // before ExecutionStarted had its own phase
			e, err := into[ExecutionStarted](ev)
			e.ByEventBridge = strings.HasPrefix(ev.Message, "EventBridge ")
			return e, err
		}
		return Log{Stage: stage, Line: ev.Message, Phase: PhaseLog}, nil
	case PhaseRetrying:
		e, err := into[StageRetrying](ev)
		e.Stage = stage
		return e, err
	case PhaseState:
		e, err := into[StateChanged](ev)
		e.At = ev.Timestamp
		return e, err
	case "":
		return parseOld(ev, head.Status)
	}
	return nil, fmt.Errorf("event of unknown phase %q", head.Phase)
}

// plain reads the kinds whose details are all they carry; ok is false for
// any other phase.
func plain(phase string, ev store.Event) (k Kind, ok bool, err error) {
	switch phase {
	case PhaseQueued:
		k, err = into[Queued](ev)
	case PhaseRunning:
		k, err = into[Running](ev)
	case PhaseWaiting:
		k, err = into[Waiting](ev)
	case PhaseTrigger:
		k, err = into[AwaitingTrigger](ev)
	case PhaseExecution:
		k, err = into[ExecutionStarted](ev)
	case PhaseCancel:
		k, err = into[CancelRequested](ev)
	case PhaseRollback:
		k, err = into[RollingBack](ev)
	case PhaseECSRollback:
		k, err = into[ECSRollingBack](ev)
	case PhaseFrozen:
		k, err = into[Frozen](ev)
	case PhaseForced:
		k, err = into[Forced](ev)
	case PhaseScan:
		k, err = into[ScanWaiting](ev)
	case PhaseScanned:
		k, err = into[Scanned](ev)
	case PhaseApproval:
		k, err = into[ApprovalWaiting](ev)
	case PhaseApproved:
		k, err = into[ApprovalAnswered](ev)
	default:
		return nil, false, nil
	}
	return k, true, err
}

// parseOld places the phase-less events of earlier versions.
func parseOld(ev store.Event, status store.Status) (Kind, error) {
	switch {
	case status == store.StatusQueued:
		e, err := into[Queued](ev)
		e.Phase = PhaseQueued
		return e, err
	case status == store.StatusRunning:
		return Running{Phase: PhaseRunning, Status: status}, nil
	case len(ev.Details) == 0 && strings.HasSuffix(ev.Message, "; retrying"):
		return StageRetrying{Stage: pipeline.Stage(ev.Stage), Phase: PhaseRetrying, Reason: strings.TrimSuffix(ev.Message, "; retrying")}, nil
	}
	return nil, fmt.Errorf("event %q has no phase", ev.Message)
}

func into[K Kind](ev store.Event) (K, error) {
	var k K
	return k, decode(ev, &k)
}

func decode(ev store.Event, into any) error {
	if len(ev.Details) == 0 {
		return nil
	}
	if err := json.Unmarshal(ev.Details, into); err != nil {
		return fmt.Errorf("event details: %w", err)
	}
	return nil
}

package events

import (
	"fmt"
	"strings"
	"time"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// The phases of an approval (.panda.yml approval).
const (
	PhaseApproval = "approval"
	PhaseApproved = "approval_answered"
)

// ApprovalWaiting says the new revision serves the test listener and the
// rollout waits for an approval before production traffic moves. Message:
// "Waiting for approval of http://…:8080 by @alice or acme/release until …".
type ApprovalWaiting struct {
	Phase string `json:"phase"` // always PhaseApproval
	// TestURL is the test listener, where the new revision can be tried.
	TestURL string `json:"testUrl"`
	// Approvers are who may answer: logins ("@alice") and teams
	// ("acme/release"); empty means people with write access.
	Approvers []string `json:"approvers,omitempty"`
	// Until is when the rollout stops waiting and rolls back.
	Until time.Time `json:"until"`
}

// Event implements Kind.
func (e ApprovalWaiting) Event() store.Event {
	e.Phase = PhaseApproval
	who := "someone with write access"
	if len(e.Approvers) > 0 {
		who = strings.Join(e.Approvers, " or ")
	}
	msg := fmt.Sprintf("Waiting for approval of %s by %s until %s", e.TestURL, who, e.Until.UTC().Format(time.RFC3339))
	return envelope(store.EventStage, pipeline.StageDeploy, msg, e)
}

// ApprovalAnswered says how the wait for approval ended. Message: "Approved
// by @alice: production traffic moves", "Rejected by @bob: rolling back",
// or "No approval within 1h0m0s: rolling back".
type ApprovalAnswered struct {
	Phase string `json:"phase"` // always PhaseApproved
	// Approved is the answer; Actor who gave it, empty when the wait timed out.
	Approved bool   `json:"approved"`
	Actor    string `json:"actor,omitempty"`
	// TimedOut reports that nobody answered in time.
	TimedOut bool `json:"timedOut,omitempty"`
	// Message is the line above, kept so a reader of the stream needs no rules.
	Message string `json:"message"`
}

// Event implements Kind.
func (e ApprovalAnswered) Event() store.Event {
	e.Phase = PhaseApproved
	return envelope(store.EventStage, pipeline.StageDeploy, e.Message, e)
}

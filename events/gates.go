package events

import (
	"fmt"
	"time"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// The phases of the gates a deployment can wait at (.panda.yml freeze and scan).
const (
	PhaseFrozen  = "frozen"
	PhaseForced  = "forced"
	PhaseScan    = "scan"
	PhaseScanned = "scanned"
)

// Frozen says the deployment waits because its environment is in a freeze
// window. Message: the freeze, then "; the deployment waits", for example
// "production is frozen until 2026-12-24T08:00:00Z (holidays); the deployment waits".
type Frozen struct {
	Phase string `json:"phase"` // always PhaseFrozen
	// Freeze says which freeze and until when, for people.
	Freeze string `json:"freeze"`
	// Until is when the freeze ends and the deployment starts by itself.
	Until time.Time `json:"until"`
	// Reason is the freeze window's reason, if it gives one.
	Reason string `json:"reason,omitempty"`
}

// Event implements Kind.
func (e Frozen) Event() store.Event {
	e.Phase = PhaseFrozen
	return envelope(store.EventStage, "", e.Freeze+"; the deployment waits", e)
}

// Forced says a repository admin broke a freeze with /deploy --force.
// Message: the freeze, then "; @login broke the freeze with /deploy --force".
type Forced struct {
	Phase string `json:"phase"` // always PhaseForced
	// Actor is the GitHub login of the admin.
	Actor string `json:"actor"`
	// Freeze is the freeze broken, for people.
	Freeze string `json:"freeze"`
}

// Event implements Kind.
func (e Forced) Event() store.Event {
	e.Phase = PhaseForced
	return envelope(store.EventStage, "", fmt.Sprintf("%s; @%s broke the freeze with /deploy --force", e.Freeze, e.Actor), e)
}

// ScanWaiting says the rollout waits for ECR's scan of the pushed image
// (.panda.yml scan). Message: "Waiting for ECR's scan of sha256:… (gives up at …)".
type ScanWaiting struct {
	Phase string `json:"phase"` // always PhaseScan
	// Digest is the image's digest.
	Digest string `json:"digest"`
	// GivesUpAt is when the gate stops waiting and blocks the rollout.
	GivesUpAt time.Time `json:"givesUpAt"`
}

// Event implements Kind.
func (e ScanWaiting) Event() store.Event {
	e.Phase = PhaseScan
	return envelope(store.EventStage, pipeline.StagePush,
		fmt.Sprintf("Waiting for ECR's scan of %s (gives up at %s)", e.Digest, e.GivesUpAt.UTC().Format(time.RFC3339)), e)
}

// Scanned says ECR's scan was read and did not block the rollout. Message:
// "N findings; M at or above SEVERITY and not ignored."
type Scanned struct {
	Phase string `json:"phase"` // always PhaseScanned
	// Findings is how many findings the scan has; Blocking, how many reach
	// FailOn and are not ignored.
	Findings int    `json:"findings"`
	Blocking int    `json:"blocking"`
	FailOn   string `json:"failOn"`
}

// Event implements Kind.
func (e Scanned) Event() store.Event {
	e.Phase = PhaseScanned
	return envelope(store.EventStage, pipeline.StagePush,
		fmt.Sprintf("%d findings; %d at or above %s and not ignored.", e.Findings, e.Blocking, e.FailOn), e)
}

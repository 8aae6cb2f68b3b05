package store

import (
	"crypto/rand"
	"math/big"
	"regexp"
	"time"

	"github.com/pandadeploy/panda/freeze"
)

// Status is where a deployment stands. The final ones never change once written.
type Status string

// The statuses of a deployment, as the API and events spell them.
const (
	StatusQueued     Status = "QUEUED"
	StatusRunning    Status = "RUNNING"
	StatusSucceeded  Status = "SUCCEEDED"
	StatusFailed     Status = "FAILED"
	StatusTimeout    Status = "TIMEOUT"
	StatusCanceled   Status = "CANCELED"
	StatusSuperseded Status = "SUPERSEDED"
)

// Final reports whether s ends a deployment.
func (s Status) Final() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusTimeout, StatusCanceled, StatusSuperseded:
		return true
	}
	return false
}

// Deployment is the record of one deployment of one commit to one environment.
// It is stored as JSON; fields are added, never renamed, so older workers can
// read records written by newer ones during a rolling upgrade.
type Deployment struct {
	ID             string `json:"id"`
	Status         Status `json:"status"`
	Repo           string `json:"repo"` // owner/name
	InstallationID int64  `json:"installationId"`
	SHA            string `json:"sha"`
	// CommitTime is the commit's committer date, recorded by the build once
	// the clone has read it; zero before (and for a rollback, which clones nothing).
	CommitTime  time.Time `json:"commitTime,omitzero"`
	Branch      string    `json:"branch,omitempty"`
	Environment string    `json:"environment"`
	Trigger     string    `json:"trigger"` // push, comment, rerun, rollback, api
	Actor       string    `json:"actor,omitempty"`
	DeliveryID  string    `json:"deliveryId,omitempty"`
	PullRequest int       `json:"pullRequest,omitempty"`
	CommentID   int64     `json:"commentId,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	EndedAt     time.Time `json:"endedAt,omitzero"`

	// StageDurations holds each finished stage's duration by stage name.
	StageDurations map[string]time.Duration `json:"stageDurations,omitempty"`
	ImageURI       string                   `json:"imageUri,omitempty"`
	ExecutionARN   string                   `json:"executionArn,omitempty"`
	BlueURL        string                   `json:"blueUrl,omitempty"`
	GreenURL       string                   `json:"greenUrl,omitempty"`
	// StopRequest is set when someone cancelled the deployment while its
	// execution runs: the message it ends with. The follow task rolls ECS
	// back and ends the deployment CANCELED once ECS confirms a terminal state.
	StopRequest string `json:"stopRequest,omitempty"`
	// Error is the message shown to users; ErrorStage names the stage it came from.
	Error      string `json:"error,omitempty"`
	ErrorStage string `json:"errorStage,omitempty"`
	// Target is where the deployment goes, fixed when it is created (from the
	// commit's .panda.yml or the API request), so a retry deploys the same thing.
	Target Target `json:"target"`
	// CheckRuns maps a stage name to the id of its GitHub check run, so a retried
	// task updates the same check runs instead of creating new ones.
	CheckRuns map[string]int64 `json:"checkRuns,omitempty"`
	// GitHubDeploymentID is the GitHub Deployment reporting this deployment, or 0.
	GitHubDeploymentID int64 `json:"githubDeploymentId,omitempty"`
	// Outbox lists what GitHub is yet to be told of the final status (Report*
	// values). It is written in the same transaction as the final status and
	// emptied, item by item, as GitHub accepts each (Store.Reported), so a
	// crash or a GitHub outage between the two delays those updates but never
	// loses them.
	Outbox []string `json:"outbox,omitempty"`
	// FinalAnnotations are the annotations the concluding check run carries
	// (the failing Dockerfile line), kept so that whichever task drains the
	// outbox can send them.
	FinalAnnotations []Annotation `json:"finalAnnotations,omitempty"`
	// ForcedBy is the repository admin whose "/deploy --force" made this
	// deployment ignore the environment's freeze windows; empty otherwise.
	ForcedBy string `json:"forcedBy,omitempty"`
	// ScanSince is when the scan gate began waiting for ECR's scan of the
	// pushed image; ScanReport is the markdown the push check run shows of its
	// findings, already cut to fit.
	ScanSince  time.Time `json:"scanSince,omitzero"`
	ScanReport string    `json:"scanReport,omitempty"`
	// Approval is the state of the approval the target requires, once the
	// rollout waits for it (nil before).
	Approval *ApprovalState `json:"approval,omitempty"`
}

// ApprovalState is an approval in progress. The follow task writes Since
// and TestURL when ECS's PAUSE hook awaits an answer; a press or a comment
// by someone allowed writes the answer once (Answered), which the follow
// task then gives ECS.
type ApprovalState struct {
	Since   time.Time `json:"since"`
	TestURL string    `json:"testUrl,omitempty"`
	// Approved is the answer: true moves production traffic, false rolls
	// the deployment back. It means something only once Answered is set.
	Approved bool      `json:"approved,omitempty"`
	By       string    `json:"by,omitempty"` // the GitHub login who answered
	Answered time.Time `json:"answered,omitzero"`
}

// What the outbox of a final deployment can hold.
const (
	// ReportChecks: the stage check runs concluded.
	ReportChecks = "checks"
	// ReportGitHubDeployment: the GitHub Deployment's final status.
	ReportGitHubDeployment = "github_deployment"
	// ReportReaction: 🚀 or 😕 on the /deploy comment.
	ReportReaction = "reaction"
)

// Annotation marks a line of a repository file on the concluding check run.
type Annotation struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Message string `json:"message"`
	Level   string `json:"level,omitempty"`
}

// Target is the environment a deployment goes to, as .panda.yml or the API named it.
type Target struct {
	Region          string            `json:"region"`
	AWSConnection   string            `json:"awsConnection,omitempty"`
	ECRRepository   string            `json:"ecrRepository"`
	StateMachineARN string            `json:"stateMachineArn"`
	Cluster         string            `json:"cluster"`
	Service         string            `json:"service"`
	TaskFamily      string            `json:"taskFamily"`
	ContainerPort   int               `json:"containerPort"`
	DesiredCount    int               `json:"desiredCount"`
	Dockerfile      string            `json:"dockerfile,omitempty"`
	Trigger         string            `json:"trigger,omitempty"` // stepfunctions (default) or eventbridge
	EventsRoleARN   string            `json:"eventsRoleArn,omitempty"`
	BuildArgs       map[string]string `json:"buildArgs,omitempty"`
	Submodules      bool              `json:"submodules,omitempty"`
	BuildTarget     string            `json:"buildTarget,omitempty"`  // the Dockerfile stage; "" is the last
	Platform        string            `json:"platform,omitempty"`     // linux/amd64 or linux/arm64; "" is the builder's
	BuildSecrets    []string          `json:"buildSecrets,omitempty"` // names only, never values
	// Scan, when set, holds the rollout until ECR's scan of the image is
	// read, and blocks it when findings reach the threshold.
	Scan *ScanGate `json:"scan,omitempty"`
	// Freeze windows hold (or, with FreezePolicy "refuse", refuse) a
	// deployment that would start inside one.
	Freeze       []freeze.Window `json:"freeze,omitempty"`
	FreezePolicy string          `json:"freezePolicy,omitempty"` // wait (default) or refuse
	HealthCheck  *HealthCheck    `json:"healthCheck,omitempty"`
	// Approval, when set, holds the rollout after the test traffic shift
	// until someone allowed approves (repoconfig.Approval).
	Approval *Approval `json:"approval,omitempty"`
}

// Approval is a target's approval: who may answer (GitHub logins, and
// org/team-slug teams; neither means people with write permission), and how
// long the rollout waits.
type Approval struct {
	Users          []string `json:"users,omitempty"`
	Teams          []string `json:"teams,omitempty"`
	TimeoutMinutes int      `json:"timeoutMinutes"`
}

// ScanGate is .panda.yml's scan setting.
type ScanGate struct {
	// FailOn is the lowest severity that blocks: CRITICAL, HIGH or MEDIUM.
	FailOn string `json:"failOn"`
	// Ignore lists vulnerability ids (CVE-…) that never block.
	Ignore []string `json:"ignore,omitempty"`
}

// HealthCheck is a target's health check on the test listener (repoconfig.HealthCheck).
type HealthCheck struct {
	Path           string  `json:"path"`
	ExpectStatus   int     `json:"expectStatus,omitempty"`
	TimeoutSeconds float64 `json:"timeoutSeconds,omitempty"`
	Attempts       int     `json:"attempts,omitempty"`
}

// Duration is how long the deployment ran, or has been running at now.
func (d *Deployment) Duration(now time.Time) time.Duration {
	switch {
	case d.StartedAt.IsZero():
		return 0
	case d.EndedAt.IsZero():
		return now.Sub(d.StartedAt)
	}
	return d.EndedAt.Sub(d.StartedAt)
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

var idPattern = regexp.MustCompile(`^dep_[A-Za-z0-9]{10}$`)

// NewID returns a fresh deployment id: "dep_" and 10 alphanumerics from crypto/rand.
// The id is unguessable (about 59 bits) because the deployment's page and event
// stream may be read by whoever holds it.
func NewID() string {
	b := make([]byte, 10)
	max := big.NewInt(int64(len(idAlphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			// crypto/rand does not fail on supported platforms; a predictable id would
			// be worse than stopping.
			panic("crypto/rand: " + err.Error())
		}
		b[i] = idAlphabet[n.Int64()]
	}
	return "dep_" + string(b)
}

// ValidID reports whether id has the shape of a deployment id. Callers check it
// before building a Redis key from user input.
func ValidID(id string) bool { return idPattern.MatchString(id) }

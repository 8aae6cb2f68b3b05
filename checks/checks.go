// Package checks reports a deployment's stages as GitHub check runs: one per
// stage (panda/clone, panda/build, panda/push, panda/deploy), created queued,
// started, fed a coalesced log tail, and completed with a conclusion, a markdown
// summary, annotations and action buttons.
//
// The package knows the deployment record (package store) and the stage names
// (package pipeline), nothing of how a stage runs: package jobs drives a
// Reporter and turns stage errors into Annotations.
package checks

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/pipeline"
)

// API is the part of the GitHub checks API a Reporter uses;
// *github.ChecksService has it. ListCheckRunsForRef finds check runs whose
// creation GitHub confirmed to nobody (an answer lost to a 5xx or a crash).
type API interface {
	CreateCheckRun(ctx context.Context, owner, repo string, opts github.CreateCheckRunOptions) (*github.CheckRun, *github.Response, error)
	UpdateCheckRun(ctx context.Context, owner, repo string, checkRunID int64, opts github.UpdateCheckRunOptions) (*github.CheckRun, *github.Response, error)
	ListCheckRunsForRef(ctx context.Context, owner, repo, ref string, opts *github.ListCheckRunsOptions) (*github.ListCheckRunsResults, *github.Response, error)
}

var _ API = (*github.ChecksService)(nil)

// Clients returns the checks API of one App installation. With a
// *githubapp.Factory:
//
//	func(ctx context.Context, id int64) (checks.API, error) {
//		c, err := factory.Client(ctx, id)
//		if err != nil {
//			return nil, err
//		}
//		return c.Checks, nil
//	}
type Clients func(ctx context.Context, installationID int64) (API, error)

// Conclusions a Result may carry, as GitHub spells them.
const (
	ConclusionSuccess   = "success"
	ConclusionFailure   = "failure"
	ConclusionCancelled = "cancelled"
	ConclusionTimedOut  = "timed_out"
	ConclusionSkipped   = "skipped"
	ConclusionNeutral   = "neutral"
)

// Identifiers of the action buttons Panda puts on the panda/deploy check run
// and the controls run (ControlsName). GitHub sends them back in a check_run
// requested_action event.
const (
	// ActionCancel is offered on the controls run while the deployment runs:
	// stop the deployment.
	ActionCancel = "cancel"
	// ActionRollback is offered after a successful deploy: redeploy the
	// environment's previous successful image.
	ActionRollback = "rollback"
	// ActionRedeploy is offered after a deploy that did not succeed: deploy
	// the same commit again, as "Re-run" does. It replaces Cancel because
	// go-github cannot send an empty actions list, so a button can only be
	// replaced, never removed.
	ActionRedeploy = "redeploy"
	// ActionApprove and ActionReject are offered on the controls run while
	// the rollout waits for an approval (.panda.yml approval): move
	// production traffic to the new revision, or roll it back.
	ActionApprove = "approve"
	ActionReject  = "reject"
)

// Result is how a stage ended, for Finish.
type Result struct {
	// Conclusion is one of the Conclusion constants.
	Conclusion string
	// Title is the one-line headline. If empty, one is derived from the
	// deployment and the conclusion.
	Title string
	// Summary is markdown. If empty, SummaryFor renders one.
	Summary string
	// Annotations point at lines of the repository's files.
	Annotations []Annotation
}

// Annotation marks one line of a file in the repository.
type Annotation struct {
	// Path is relative to the repository root, such as "docker/Dockerfile".
	// Annotations without a path are dropped.
	Path string
	// Line is 1-based; lines below 1 annotate line 1 (the file as a whole).
	Line int
	// Message says what is wrong, for a person.
	Message string
	// Level is notice, warning or failure. If empty, failure.
	Level string
}

// configFile is the repository configuration's path (repoconfig.FileName);
// it is repeated here because checks does not depend on the parser.
const configFile = ".panda.yml"

// DockerfileAnnotation annotates the Dockerfile line whose instruction failed
// to build. path is the Dockerfile's path from the repository root; line may be
// 0 when the failing line is unknown.
func DockerfileAnnotation(path string, line int, instruction, message string) Annotation {
	msg := message
	if instruction != "" {
		msg = instruction + " failed: " + message
	}
	return Annotation{Path: path, Line: line, Message: msg, Level: "failure"}
}

// ConfigAnnotation annotates a line of a malformed .panda.yml. field is the
// dotted path of the setting ("environments.production.container_port") or
// empty for the file as a whole.
func ConfigAnnotation(line int, field, problem string) Annotation {
	msg := problem
	if field != "" {
		msg = field + ": " + problem
	}
	return Annotation{Path: configFile, Line: line, Message: msg, Level: "failure"}
}

// CheckRunName returns the check run name of stage: "panda/" + stage.
func CheckRunName(stage string) string { return namePrefix + stage }

// StageFromName returns the stage of a Panda check run name, and false for
// any other check run.
func StageFromName(name string) (string, bool) {
	stage, ok := strings.CutPrefix(name, namePrefix)
	return stage, ok && knownStage(stage)
}

const namePrefix = "panda/"

func knownStage(stage string) bool {
	for _, s := range pipeline.Stages {
		if string(s) == stage {
			return true
		}
	}
	return false
}

// ErrNoCheckRun means the deployment has no check run id for a stage: Queue
// was not called, or its ids were not stored in the record.
var ErrNoCheckRun = errors.New("no check run for stage")

// errInvalid marks a request this package refuses to send (an unknown stage or
// conclusion, a malformed repository name): sending it again cannot help.
var errInvalid = errors.New("invalid check run request")

// IsPermanent reports whether err will recur if the same call is made again:
// GitHub refused the request itself (400, 403 without a rate limit, 404, 410,
// 422), or the call was malformed before any request. Rate limits, 5xx,
// 401 (a token refreshes), network failures and anything unknown are
// transient.
func IsPermanent(err error) bool {
	if errors.Is(err, ErrNoCheckRun) || errors.Is(err, errInvalid) {
		return true
	}
	var rate *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &rate) || errors.As(err, &abuse) {
		return false
	}
	var resp *github.ErrorResponse
	if !errors.As(err, &resp) || resp.Response == nil {
		return false
	}
	switch code := resp.Response.StatusCode; code {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	default:
		return code >= 400 && code < 500
	}
}

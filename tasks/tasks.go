// Package tasks is the contract between Panda's app and its worker: the Asynq
// task types, their versioned payloads, and the constructors that give each
// task its queue, MaxRetry, Timeout and deterministic TaskID.
//
// It imports Asynq and the standard library only, so the app, which enqueues
// tasks but never runs a stage, links none of the worker's machinery (the
// Docker client, the pipeline, the ECR and Step Functions SDKs). The handlers
// are in package jobs. Delivery is at least once, so every handler is
// idempotent: a retried or duplicated task finds the work its earlier attempt
// did (by claim, by name, by id kept in the record) instead of doing it twice.
package tasks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	TypePush         = "github:push"
	TypeComment      = "github:comment"
	TypeCheckRun     = "github:check_run"
	TypeInstallation = "github:installation"
)

// Queues and their weights: webhook work is short and a user waits on it.
const (
	QueueWebhooks = "webhooks"
	QueueDeploy   = "deploy"
)

// Queues returns the worker's queues and their priorities.
func Queues() map[string]int { return map[string]int{QueueWebhooks: 6, QueueDeploy: 4} }

// DeliveryRetention keeps a finished webhook task (and so its TaskID) for as
// long as GitHub allows redelivery, so a redelivered delivery conflicts with
// it instead of running again.
const DeliveryRetention = 4 * 24 * time.Hour

// Delivery identifies one webhook delivery: X-GitHub-Hook-ID and X-GitHub-Delivery.
type Delivery struct {
	HookID string `json:"hookId"`
	ID     string `json:"id"`
}

// TaskID is the TaskID of the one task a delivery may become.
func (d Delivery) TaskID() string { return "gh:" + d.HookID + ":" + d.ID }

// Repository is a repository as a payload names it: its id, which a rename
// or a transfer keeps, and its full name at the time of the delivery.
type Repository struct {
	ID       int64  `json:"id"`
	FullName string `json:"fullName"`
}

// PushPayload is a branch push with a head commit (v1). RepoID, like every
// field added to a version, is zero in payloads of an app that predates it.
type PushPayload struct {
	V              int      `json:"v"`
	Delivery       Delivery `json:"delivery"`
	InstallationID int64    `json:"installationId"`
	Repo           string   `json:"repo"`
	RepoID         int64    `json:"repoId,omitempty"`
	Branch         string   `json:"branch"`
	SHA            string   `json:"sha"`
	Message        string   `json:"message"`
	Sender         string   `json:"sender"`
}

// CommentPayload is a new comment whose first line is a /deploy command (v1).
type CommentPayload struct {
	V              int      `json:"v"`
	Delivery       Delivery `json:"delivery"`
	InstallationID int64    `json:"installationId"`
	Repo           string   `json:"repo"`
	RepoID         int64    `json:"repoId,omitempty"`
	Issue          int      `json:"issue"`
	PullRequest    bool     `json:"pullRequest"`
	CommentID      int64    `json:"commentId"`
	Command        string   `json:"command"` // the first line of the comment
	Author         string   `json:"author"`
}

// CheckRunPayload is a press of "Re-run" or of an action button on one of
// Panda's check runs, or "Re-run all" on a check suite (v1).
type CheckRunPayload struct {
	V              int      `json:"v"`
	Delivery       Delivery `json:"delivery"`
	InstallationID int64    `json:"installationId"`
	Repo           string   `json:"repo"`
	RepoID         int64    `json:"repoId,omitempty"`
	Action         string   `json:"action"` // rerequested, requested_action
	CheckRunID     int64    `json:"checkRunId,omitempty"`
	CheckSuiteID   int64    `json:"checkSuiteId,omitempty"`
	ExternalID     string   `json:"externalId,omitempty"` // the deployment id
	HeadSHA        string   `json:"headSha"`
	Identifier     string   `json:"identifier,omitempty"` // the action button pressed
	Sender         string   `json:"sender"`
}

// InstallationPayload is an installation or installation_repositories event (v1).
type InstallationPayload struct {
	V              int      `json:"v"`
	Delivery       Delivery `json:"delivery"`
	Event          string   `json:"event"`  // installation, installation_repositories
	Action         string   `json:"action"` // created, deleted, suspend, unsuspend, added, removed, …
	InstallationID int64    `json:"installationId"`
	Account        string   `json:"account"`
	AllRepos       bool     `json:"allRepos"`
	Repos          []string `json:"repos,omitempty"`   // created: the repositories granted
	Added          []string `json:"added,omitempty"`   // installation_repositories
	Removed        []string `json:"removed,omitempty"` // installation_repositories
	// The same repositories with their ids. Repos, Added and Removed (names
	// only) are still filled for workers that predate the ids; a worker that
	// knows these reads them when present.
	Granted      []Repository `json:"granted,omitempty"`
	AddedRepos   []Repository `json:"addedRepos,omitempty"`
	RemovedRepos []Repository `json:"removedRepos,omitempty"`
	// Selection is installation_repositories' repository_selection after the
	// change: "all" or "selected" ("" from an app that predates it).
	Selection string `json:"selection,omitempty"`
}

func webhookTask(typ string, d Delivery, payload any) (*asynq.Task, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", typ, err)
	}
	return asynq.NewTask(typ, data,
		asynq.TaskID(d.TaskID()),
		asynq.Queue(QueueWebhooks),
		asynq.MaxRetry(8),
		asynq.Timeout(2*time.Minute),
		asynq.Retention(DeliveryRetention),
	), nil
}

// NewPushTask returns the task for a branch push.
func NewPushTask(p PushPayload) (*asynq.Task, error) {
	p.V = 1
	return webhookTask(TypePush, p.Delivery, p)
}

// NewCommentTask returns the task for a /deploy comment.
func NewCommentTask(p CommentPayload) (*asynq.Task, error) {
	p.V = 1
	return webhookTask(TypeComment, p.Delivery, p)
}

// NewCheckRunTask returns the task for a check run or check suite request.
func NewCheckRunTask(p CheckRunPayload) (*asynq.Task, error) {
	p.V = 1
	return webhookTask(TypeCheckRun, p.Delivery, p)
}

// NewInstallationTask returns the task for an installation change.
func NewInstallationTask(p InstallationPayload) (*asynq.Task, error) {
	p.V = 1
	return webhookTask(TypeInstallation, p.Delivery, p)
}

// Decode unmarshals a task payload, refusing payload versions this worker does
// not know (a newer app enqueued it: retrying lets a newer worker take it). A
// payload that is not JSON wraps asynq.SkipRetry: no retry can mend it.
func Decode(t *asynq.Task, v any) error {
	var head struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(t.Payload(), &head); err != nil {
		return fmt.Errorf("decode %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	if head.V != 1 {
		return fmt.Errorf("%s payload version %d is newer than this worker knows", t.Type(), head.V)
	}
	if err := json.Unmarshal(t.Payload(), v); err != nil {
		return fmt.Errorf("decode %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return nil
}

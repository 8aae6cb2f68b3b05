// Package webhook takes GitHub's deliveries at POST /webhook: it verifies the
// signature, parses, deduplicates, routes each delivery to at most one Asynq
// task and answers within milliseconds. It never runs a stage itself.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"sync/atomic"

	"github.com/google/go-github/v66/github"
	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// MaxBodyBytes is the largest delivery taken: GitHub caps payloads at 25 MB.
const MaxBodyBytes = 25 << 20

// Queue is what the handler needs of *asynq.Client.
type Queue interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Deliveries is what the handler needs of *store.Store.
type Deliveries interface {
	RememberDelivery(ctx context.Context, hookID, deliveryID string) error
	// ServesRepo reports whether Panda serves the repository (by id; by
	// name when repoID is 0) through the installation.
	ServesRepo(ctx context.Context, installationID int64, r store.RepoRef) (serves, known bool, err error)
}

// Outcome names what became of a delivery, for logs and metrics.
type Outcome string

// Outcomes of a delivery.
const (
	OutcomeQueued       Outcome = "queued"
	OutcomeIgnored      Outcome = "ignored"
	OutcomeDuplicate    Outcome = "duplicate"
	OutcomePing         Outcome = "ping"
	OutcomeUnauthorized Outcome = "unauthorized"
	OutcomeBadRequest   Outcome = "bad_request"
	OutcomeTooLarge     Outcome = "too_large"
	OutcomeUnavailable  Outcome = "unavailable"
)

// Handler is the http.Handler of POST /webhook. Its fields are set once before
// it serves; it is safe for concurrent use.
type Handler struct {
	// Secret is the webhook secret shared with GitHub.
	Secret []byte
	Queue  Queue
	Store  Deliveries
	Logger *slog.Logger
	// Observe, if set, is called once per delivery with its event and outcome.
	Observe func(event string, outcome Outcome)
	// MaxInFlight bounds the deliveries handled at once. Past it a delivery is
	// answered 503 at once: under a burst, a quick 503 (which the redelivery
	// sweeper recovers) beats answers that queue past GitHub's 10-second
	// timeout. If zero, 512.
	MaxInFlight int64

	inFlight atomic.Int64
}

// Delivery ids are GUIDs (names.DeliveryID) and hook ids are numbers;
// anything else is refused before it becomes part of a Redis key or a TaskID.
var (
	hookIDPattern = regexp.MustCompile(`^[0-9]{1,20}$`)
	eventPattern  = regexp.MustCompile(`^[a-z_]{1,64}$`)
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := r.Header.Get("X-GitHub-Event")
	d := tasks.Delivery{HookID: r.Header.Get("X-GitHub-Hook-ID"), ID: r.Header.Get("X-GitHub-Delivery")}
	if d.HookID == "" {
		d.HookID = "0" // older GitHub Enterprise versions do not send it
	}
	log := h.Logger.With("delivery_id", d.ID, "event", event)
	limit := h.MaxInFlight
	if limit <= 0 {
		limit = 512
	}
	var (
		outcome Outcome
		status  int
		msg     string
	)
	if n := h.inFlight.Add(1); n > limit {
		w.Header().Set("Retry-After", "1")
		outcome, status, msg = OutcomeUnavailable, http.StatusServiceUnavailable, "too many deliveries at once; redeliver later"
	} else {
		outcome, status, msg = h.serve(w, r, event, d, log)
	}
	h.inFlight.Add(-1)
	if h.Observe != nil {
		h.Observe(eventLabel(event), outcome)
	}
	writeJSON(w, status, msg)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, event string, d tasks.Delivery, log *slog.Logger) (Outcome, int, string) {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	// The signature is checked before anything is parsed, in constant time
	// (ValidatePayloadFromBody compares with hmac.Equal): a timing oracle would
	// leak the expected signature byte by byte.
	payload, err := github.ValidatePayloadFromBody(r.Header.Get("Content-Type"), body,
		r.Header.Get("X-Hub-Signature-256"), h.Secret)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			log.Warn("webhook body too large", "limit", MaxBodyBytes)
			return OutcomeTooLarge, http.StatusRequestEntityTooLarge, "payload larger than 25 MiB"
		}
		// Logged without the body and without the expected signature.
		log.Warn("webhook signature rejected", "remote", r.RemoteAddr)
		return OutcomeUnauthorized, http.StatusUnauthorized, "signature missing or invalid"
	}
	if !eventPattern.MatchString(event) || names.DeliveryID(d.ID) != nil || !hookIDPattern.MatchString(d.HookID) {
		return OutcomeBadRequest, http.StatusBadRequest, "X-GitHub-Event, X-GitHub-Delivery or X-GitHub-Hook-ID missing or malformed"
	}
	if event == "ping" {
		if !json.Valid(payload) {
			return OutcomeBadRequest, http.StatusBadRequest, "malformed JSON"
		}
		return OutcomePing, http.StatusOK, "pong"
	}
	return h.take(r.Context(), event, payload, d, log)
}

// take dedupes, routes and enqueues a verified delivery. The task is enqueued
// before the delivery is remembered: if remembering fails, a redelivery finds
// the task by its TaskID, while the reverse order could remember a delivery
// whose task was never queued and so lose it.
func (h *Handler) take(ctx context.Context, event string, payload []byte, d tasks.Delivery, log *slog.Logger) (Outcome, int, string) {
	// No look-up of the delivery first: the task's TaskID (kept for the 4 days
	// GitHub allows redelivery) is what makes a redelivery a duplicate, and a
	// redelivered delivery that was ignored is simply ignored again.
	dec, err := Route(event, payload, d)
	if err != nil {
		log.Warn("webhook payload rejected", "err", err)
		return OutcomeBadRequest, http.StatusBadRequest, "malformed JSON payload for event " + event
	}
	log = log.With("installation_id", dec.InstallationID, "repo", dec.Repo)
	if dec.Task == nil {
		log.Info("webhook ignored", "reason", dec.Reason)
		return OutcomeIgnored, http.StatusAccepted, "ignored: " + dec.Reason
	}
	if dec.InstallationID != 0 {
		serves, _, err := h.Store.ServesRepo(ctx, dec.InstallationID, store.RepoRef{ID: dec.RepoID, FullName: dec.Repo})
		if err != nil {
			log.Error("look up installation", "err", err)
			return OutcomeUnavailable, http.StatusServiceUnavailable, "cannot record the delivery now; redeliver later"
		}
		if !serves {
			log.Info("webhook ignored", "reason", "repository not served")
			return OutcomeIgnored, http.StatusAccepted, "ignored: repository or installation not served"
		}
	}
	_, err = h.Queue.EnqueueContext(ctx, dec.Task)
	duplicate := errors.Is(err, asynq.ErrTaskIDConflict)
	if err != nil && !duplicate {
		log.Error("enqueue delivery", "err", err)
		return OutcomeUnavailable, http.StatusServiceUnavailable, "cannot queue the delivery now; redeliver later"
	}
	if err := h.Store.RememberDelivery(ctx, d.HookID, d.ID); err != nil {
		// The task is queued; a redelivery will conflict with its TaskID.
		log.Warn("remember delivery", "err", err)
	}
	if duplicate {
		log.Info("webhook duplicate", "reason", "task already queued")
		return OutcomeDuplicate, http.StatusOK, "delivery already taken"
	}
	log.Info("webhook queued", "task_type", dec.Task.Type())
	return OutcomeQueued, http.StatusAccepted, dec.Reason
}

// eventLabel bounds the metric label set: unknown events share one label.
func eventLabel(event string) string {
	switch event {
	case "push", "issue_comment", "check_run", "check_suite", "installation", "installation_repositories", "ping":
		return event
	}
	return "other"
}

// envelope is the API's JSON shape {success, message, data}.
type envelope struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(envelope{Success: status < 300, Message: msg})
}

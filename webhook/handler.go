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
	"strings"
	"sync/atomic"
	"time"

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

// Deliveries is what the handler needs of *store.Store. Nothing records a
// taken delivery besides its task: the redelivery sweeper asks the store
// whether a delivery's task exists (store.DeliverySeen).
type Deliveries interface {
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
	// ServesFor, if positive, is how long an answer of Store.Serves for an
	// installation and repository is reused for the deliveries that follow
	// (see servesCache). If zero, every delivery asks the store.
	ServesFor time.Duration

	inFlight atomic.Int64
	served   servesCache
}

// Delivery ids are GUIDs (names.DeliveryID), hook ids are numbers of at most
// 20 digits and event names are lower case with underscores, at most 64
// characters; anything else is refused before it becomes part of a Redis key
// or a TaskID.
func validHookID(id string) bool { return validChars(id, 20, "0123456789") }

func validEvent(event string) bool {
	return validChars(event, 64, "_abcdefghijklmnopqrstuvwxyz")
}

func validChars(s string, maxLen int, allowed string) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := range len(s) {
		if strings.IndexByte(allowed, s[i]) < 0 {
			return false
		}
	}
	return true
}

// The request headers a delivery carries, in canonical form so that reading
// them does not canonicalise (and allocate) per request.
const (
	headerEvent     = "X-Github-Event"
	headerDelivery  = "X-Github-Delivery"
	headerHookID    = "X-Github-Hook-Id"
	headerSignature = "X-Hub-Signature-256"
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := r.Header.Get(headerEvent)
	d := tasks.Delivery{HookID: r.Header.Get(headerHookID), ID: r.Header.Get(headerDelivery)}
	if d.HookID == "" {
		d.HookID = "0" // older GitHub Enterprise versions do not send it
	}
	log := deliveryLog{Logger: h.Logger, ctx: r.Context(), delivery: d.ID, event: event}
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

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, event string, d tasks.Delivery, log deliveryLog) (Outcome, int, string) {
	// The signature is checked before anything is parsed, in constant time
	// (verify): a timing oracle would leak the expected signature byte by byte.
	buf := getBuffer()
	defer putBuffer(buf)
	body, err := readBody(w, r, buf)
	var payload []byte
	if err == nil {
		payload, err = verify(r.Header.Get("Content-Type"), body, r.Header.Get(headerSignature), h.Secret)
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			log.attrs(slog.LevelWarn, "webhook body too large", slog.Int("limit", MaxBodyBytes))
			return OutcomeTooLarge, http.StatusRequestEntityTooLarge, "payload larger than 25 MiB"
		}
		// Logged without the body and without the expected signature.
		log.attrs(slog.LevelWarn, "webhook signature rejected", slog.String("remote", r.RemoteAddr))
		return OutcomeUnauthorized, http.StatusUnauthorized, "signature missing or invalid"
	}
	if !validEvent(event) || names.DeliveryID(d.ID) != nil || !validHookID(d.HookID) {
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

// take dedupes, routes and enqueues a verified delivery. The task is the one
// record that the delivery was taken: written by the script that queues it,
// it cannot say "taken" of a delivery whose task was never queued (a separate
// memory written after the enqueue was one more Redis round trip per
// delivery, and could be missing for a task that was queued).
func (h *Handler) take(ctx context.Context, event string, payload []byte, d tasks.Delivery, log deliveryLog) (Outcome, int, string) {
	// No look-up of the delivery first: the task's TaskID (kept for the 4 days
	// GitHub allows redelivery) is what makes a redelivery a duplicate, and a
	// redelivered delivery that was ignored is simply ignored again.
	dec, err := Route(event, payload, d)
	if err != nil {
		log.attrs(slog.LevelWarn, "webhook payload rejected", slog.Any("err", err))
		return OutcomeBadRequest, http.StatusBadRequest, "malformed JSON payload for event " + event
	}
	log.installation, log.repo = dec.InstallationID, dec.Repo
	if dec.Task == nil {
		log.attrs(slog.LevelInfo, "webhook ignored", slog.String("reason", dec.Reason))
		return OutcomeIgnored, http.StatusAccepted, "ignored: " + dec.Reason
	}
	if dec.InstallationID != 0 {
		serves, err := h.served.serves(ctx, h.ServesFor, dec.InstallationID, store.RepoRef{ID: dec.RepoID, FullName: dec.Repo}, h.Store.ServesRepo)
		if err != nil {
			log.attrs(slog.LevelError, "look up installation", slog.Any("err", err))
			return OutcomeUnavailable, http.StatusServiceUnavailable, "cannot record the delivery now; redeliver later"
		}
		if !serves {
			log.attrs(slog.LevelInfo, "webhook ignored", slog.String("reason", "repository not served"))
			return OutcomeIgnored, http.StatusAccepted, "ignored: repository or installation not served"
		}
	}
	_, err = h.Queue.EnqueueContext(ctx, dec.Task)
	duplicate := errors.Is(err, asynq.ErrTaskIDConflict)
	if err != nil && !duplicate {
		log.attrs(slog.LevelError, "enqueue delivery", slog.Any("err", err))
		return OutcomeUnavailable, http.StatusServiceUnavailable, "cannot queue the delivery now; redeliver later"
	}
	if duplicate {
		log.attrs(slog.LevelInfo, "webhook duplicate", slog.String("reason", "task already queued"))
		return OutcomeDuplicate, http.StatusOK, "delivery already taken"
	}
	log.attrs(slog.LevelInfo, "webhook queued", slog.String("task_type", dec.Task.Type()))
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

// writeJSON writes the envelope as json.Encoder would, byte for byte. The
// messages are Panda's own ASCII sentences, so the body is put together by
// hand; one with a character encoding/json escapes (a payload's action can
// end up in a reason) is encoded by encoding/json.
func writeJSON(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var buf [256]byte
	out := buf[:0]
	if plainJSON(msg) {
		if status < 300 {
			out = append(out, `{"success":true,"message":"`...)
		} else {
			out = append(out, `{"success":false,"message":"`...)
		}
		out = append(append(out, msg...), "\"}\n"...)
	} else {
		b, _ := json.Marshal(envelope{Success: status < 300, Message: msg})
		out = append(b, '\n')
	}
	_, _ = w.Write(out) // #nosec G705 -- a JSON answer (Content-Type application/json); msg is Panda's own text, escaped by the caller or by json.Marshal
}

// plainJSON reports whether s needs no escaping in a JSON string, by
// encoding/json's rules (which also escape <, > and & for HTML).
func plainJSON(s string) bool {
	for i := range len(s) {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// deliveryLog logs what became of one delivery with the fixed vocabulary's
// attributes. It replaces Logger.With per delivery, which built a handler
// (and formatted its attributes) for every request whatever was logged;
// LogAttrs with at most five attributes does not allocate for the record.
type deliveryLog struct {
	*slog.Logger
	ctx          context.Context
	delivery     string
	event        string
	installation int64
	repo         string
}

func (l deliveryLog) attrs(level slog.Level, msg string, extra slog.Attr) {
	if !l.Enabled(l.ctx, level) {
		return
	}
	if l.installation == 0 && l.repo == "" {
		l.LogAttrs(l.ctx, level, msg, slog.String("delivery_id", l.delivery), slog.String("event", l.event), extra)
		return
	}
	l.LogAttrs(l.ctx, level, msg, slog.String("delivery_id", l.delivery), slog.String("event", l.event),
		slog.Int64("installation_id", l.installation), slog.String("repo", l.repo), extra)
}

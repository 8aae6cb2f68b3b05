// Package audit keeps the record of who deployed what: every deployment
// decision (accepted, refused, finished) and every connection change, with
// who acted, what, the outcome and when. It outlives the deployment records
// (30 days): entries are kept for a configured retention, 400 days by default.
//
// The log is one Redis Stream, panda:{audit}:log (its hash tag puts it in one
// Cluster slot). Stream entry ids are millisecond timestamps, so they order
// the log, serve as the reading cursor, and let each append trim what is past
// the retention (XADD MINID) without a sweeper.
//
// An Entry has only fields that are never secret: names, ids, ARNs, digests.
// There is no free-form field a caller could put a token into.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/store"
)

const logKey = "panda:{audit}:log"

// DefaultRetention is how long entries are kept when Log.Retention is zero.
const DefaultRetention = 400 * 24 * time.Hour

// Actions.
const (
	DeploymentRequested = "deployment.requested" // asked for through the API; Outcome accepted or refused
	DeploymentAccepted  = "deployment.accepted"  // a deployment was created (any trigger)
	DeploymentFinished  = "deployment.finished"  // Outcome is its final status
	FreezeForced        = "freeze.forced"        // an admin's /deploy --force broke a freeze; Reason names it
	ApprovalAnswered    = "approval.answered"    // Outcome approved, rejected or timed_out; Actor who answered (empty on timeout)
	ConnectionCreated   = "connection.created"
	ConnectionDeleted   = "connection.deleted"
)

// Entry is one audited decision. Times are UTC.
type Entry struct {
	// ID is the entry's stream id, set by Append and List; the cursor of List.
	ID string `json:"id"`
	// Time is when it was decided. If zero, Append sets now.
	Time time.Time `json:"time"`
	// Actor is who acted: a GitHub login, or "api:" and the API caller's name.
	Actor string `json:"actor"`
	// Action is one of the constants above.
	Action string `json:"action"`
	// Outcome is accepted, refused, created, deleted, or a final deployment status.
	Outcome string `json:"outcome"`
	// Reason says why, for a refusal or a failure: Panda's own words, never a payload's.
	Reason string `json:"reason,omitempty"`

	Trigger     string `json:"trigger,omitempty"` // push, comment, rerun, rollback, api
	Repo        string `json:"repo,omitempty"`    // owner/name
	Environment string `json:"environment,omitempty"`
	Commit      string `json:"commit,omitempty"`
	// CommitTime is the commit's committer date, as the clone read it, on
	// deployment.finished entries; the lead time of package delivery runs
	// from it. Entries written before it existed lack it (zero).
	CommitTime     time.Time `json:"commitTime,omitzero"`
	DeploymentID   string    `json:"deploymentId,omitempty"`
	ImageURI       string    `json:"imageUri,omitempty"`
	ImageDigest    string    `json:"imageDigest,omitempty"`
	ExecutionARN   string    `json:"executionArn,omitempty"`
	TaskDefinition string    `json:"taskDefinition,omitempty"` // the task family the rollout registers
	// Connection names a connection by kind and Panda key: aws:prod, github:owner/name.
	Connection string `json:"connection,omitempty"`
	// ConnectionID is the connection's conn_ id.
	ConnectionID string `json:"connectionId,omitempty"`
	// AccountID is the AWS account of an AWS connection.
	AccountID string `json:"accountId,omitempty"`
}

// ForDeployment is an entry describing dep: its repository, environment,
// commit, image, execution and task family, trigger and actor.
func ForDeployment(dep *store.Deployment, action, outcome string) Entry {
	e := Entry{Action: action, Outcome: outcome, Actor: dep.Actor, Trigger: dep.Trigger, Repo: dep.Repo,
		Environment: dep.Environment, Commit: dep.SHA, CommitTime: dep.CommitTime, DeploymentID: dep.ID, ImageURI: dep.ImageURI,
		ExecutionARN: dep.ExecutionARN, TaskDefinition: dep.Target.TaskFamily}
	if _, digest, ok := strings.Cut(dep.ImageURI, "@"); ok {
		e.ImageDigest = digest
	}
	if action == DeploymentFinished && outcome != string(store.StatusSucceeded) {
		e.Reason = dep.Error
	}
	return e
}

// Log is the audit log. Its methods are safe for concurrent use by any
// number of processes.
type Log struct {
	rdb redis.UniversalClient
	// Retention is how long entries are kept. If zero, DefaultRetention.
	Retention time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// New returns the log on rdb keeping entries for retention (0: DefaultRetention).
func New(rdb redis.UniversalClient, retention time.Duration) *Log {
	return &Log{rdb: rdb, Retention: retention}
}

func (l *Log) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Log) retention() time.Duration {
	if l.Retention > 0 {
		return l.Retention
	}
	return DefaultRetention
}

// horizon is the id of the oldest entry still kept.
func (l *Log) horizon() string {
	return strconv.FormatInt(l.now().Add(-l.retention()).UnixMilli(), 10) + "-0"
}

// Append adds e to the log and returns its id, trimming entries older than
// the retention on the way.
func (l *Log) Append(ctx context.Context, e Entry) (string, error) {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	e.ID = ""
	data, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("encode audit entry: %w", err)
	}
	id, err := l.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: logKey,
		// Exact trimming: appends are rare (one per decision), and an exact
		// MINID makes the retention a promise rather than an approximation.
		MinID:  l.horizon(),
		Values: []any{"e", data},
	}).Result()
	if err != nil {
		return "", fmt.Errorf("append audit entry %s: %w", e.Action, err)
	}
	return id, nil
}

// Query selects entries. The zero Query is every entry kept, oldest first.
type Query struct {
	// Repo and Environment, if set, must equal the entry's.
	Repo, Environment string
	// Since, if set, skips entries before it.
	Since time.Time
	// After is a cursor: only entries after this id (a previous page's Next).
	After string
	// Limit is the page size. If zero, 100.
	Limit int
}

var cursorPattern = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// ErrBadCursor is returned for an After that is not an entry id.
var ErrBadCursor = errors.New("not an audit cursor")

// scanPage is how many entries one read of the stream asks for.
const scanPage = 500

// List returns a page of the entries q selects, oldest first, and the cursor
// of the next page ("" when there is none). A page may be short, even
// empty, with a cursor when filters skipped many entries: the scan per call
// is bounded, so a rare repository cannot make one call read the whole log.
func (l *Log) List(ctx context.Context, q Query) ([]Entry, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	start, err := l.start(q)
	if err != nil {
		return nil, "", err
	}
	out := []Entry{}
	for scanned := 0; scanned < 20*scanPage; {
		msgs, err := l.rdb.XRangeN(ctx, logKey, start, "+", scanPage).Result()
		if err != nil {
			return nil, "", fmt.Errorf("read audit log: %w", err)
		}
		scanned += len(msgs)
		for _, m := range msgs {
			e, ok := decode(m)
			if ok && matches(e, q) {
				out = append(out, e)
			}
			start = "(" + m.ID
			if len(out) == limit {
				return out, m.ID, nil
			}
		}
		if len(msgs) < scanPage {
			return out, "", nil
		}
	}
	return out, strings.TrimPrefix(start, "("), nil
}

// Export calls fn with every entry q selects (Limit ignored), oldest first.
func (l *Log) Export(ctx context.Context, q Query, fn func(Entry) error) error {
	q.Limit = scanPage
	for {
		page, next, err := l.List(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		q.After = next
	}
}

// start is the XRANGE start of q: after the cursor, or from the later of
// Since and the retention horizon.
func (l *Log) start(q Query) (string, error) {
	if q.After != "" {
		if !cursorPattern.MatchString(q.After) {
			return "", ErrBadCursor
		}
		return "(" + q.After, nil
	}
	start := l.horizon()
	if !q.Since.IsZero() && q.Since.After(l.now().Add(-l.retention())) {
		start = strconv.FormatInt(q.Since.UnixMilli(), 10) + "-0"
	}
	return start, nil
}

func matches(e Entry, q Query) bool {
	return (q.Repo == "" || e.Repo == q.Repo) && (q.Environment == "" || e.Environment == q.Environment) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since))
}

func decode(m redis.XMessage) (Entry, bool) {
	raw, _ := m.Values["e"].(string)
	var e Entry
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return e, false
	}
	e.ID = m.ID
	return e, true
}

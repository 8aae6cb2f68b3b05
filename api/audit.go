package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/names"
)

// record appends e to the audit log, with the API caller as the actor. The
// change it records is made already, so a failed append is logged (what it
// would have said holds no secret) rather than failing the request.
func (s *server) record(ctx context.Context, e audit.Entry) {
	if s.Audit == nil {
		return
	}
	if e.Actor == "" {
		e.Actor = "api:" + caller(ctx)
	}
	if _, err := s.Audit.Append(ctx, e); err != nil {
		s.log.Error("audit append failed", "action", e.Action, "outcome", e.Outcome, "repo", e.Repo,
			"deployment_id", e.DeploymentID, "connection", e.Connection, "err", err)
	}
}

// ndjson is the JSON-lines media type of the audit export.
const ndjson = "application/x-ndjson"

// auditQuery reads ?repo=&environment=&since=&cursor=&limit=.
func auditQuery(r *http.Request) (audit.Query, error) {
	v := r.URL.Query()
	q := audit.Query{Repo: v.Get("repo"), Environment: v.Get("environment"), After: v.Get("cursor")}
	switch {
	case q.Repo != "" && !connections.ValidRepo(q.Repo):
		return q, badField("repo", "must be owner/name")
	case q.Environment != "" && names.Environment(q.Environment) != nil:
		return q, badName("environment", names.Environment(q.Environment))
	}
	if since := v.Get("since"); since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return q, badField("since", "must be an RFC 3339 time like 2025-03-01T00:00:00Z")
		}
		q.Since = t
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return q, badField("limit", "must be a number from 1 to 500")
		}
		q.Limit = n
	}
	return q, nil
}

// auditPage is the answer of GET /api/v1/audit.
type auditPage struct {
	Entries []audit.Entry `json:"entries"`
	// NextCursor is the cursor of the next page, "" after the last.
	NextCursor string `json:"nextCursor"`
}

func (s *server) auditLog() error {
	if s.Audit == nil {
		return &Error{Status: http.StatusServiceUnavailable, Message: "the audit log is not configured"}
	}
	return nil
}

// listAudit serves GET /api/v1/audit: a page of entries, oldest first, or
// all of them as JSON lines when the client accepts only application/x-ndjson.
func (s *server) listAudit(w http.ResponseWriter, r *http.Request) error {
	if strings.Contains(r.Header.Get("Accept"), ndjson) {
		return s.exportAudit(w, r)
	}
	if err := s.auditLog(); err != nil {
		return err
	}
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	entries, next, err := s.Audit.List(r.Context(), q)
	if errors.Is(err, audit.ErrBadCursor) {
		return badField("cursor", "not a cursor of this log")
	}
	if err != nil {
		return err
	}
	return writeOK(w, http.StatusOK, "", auditPage{Entries: entries, NextCursor: next})
}

// exportAudit serves GET /api/v1/audit/export: every selected entry, one JSON
// object per line, streamed page by page.
func (s *server) exportAudit(w http.ResponseWriter, r *http.Request) error {
	if err := s.auditLog(); err != nil {
		return err
	}
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	if q.After != "" {
		if _, _, err := s.Audit.List(r.Context(), audit.Query{After: q.After, Limit: 1}); errors.Is(err, audit.ErrBadCursor) {
			return badField("cursor", "not a cursor of this log")
		}
	}
	h := w.Header()
	h.Set("Content-Type", ndjson)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", `attachment; filename="panda-audit.ndjson"`)
	enc := json.NewEncoder(w) // one line per entry: Encode ends each with \n
	wrote := false
	err = s.Audit.Export(r.Context(), q, func(e audit.Entry) error {
		wrote = true
		return enc.Encode(e)
	})
	if err != nil && !wrote {
		return err // nothing sent yet: an ordinary error answer
	}
	if err != nil {
		// Mid-stream the status is sent: cut the stream, so the client sees it incomplete.
		s.log.Error("audit export failed", "err", err)
		panic(http.ErrAbortHandler)
	}
	if !wrote {
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

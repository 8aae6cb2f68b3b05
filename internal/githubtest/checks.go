package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CheckRun is the current state of a check run, as a user would see it on
// GitHub, with the history of how it got there.
type CheckRun struct {
	ID          int64
	Name        string
	HeadSHA     string
	Status      string
	Conclusion  string
	ExternalID  string
	DetailsURL  string
	StartedAt   time.Time
	CompletedAt time.Time
	Output      CheckRunOutput
	Actions     []CheckRunAction
	// History holds the state after each create and update, oldest first;
	// the entries' own History is nil.
	History []CheckRun
}

// CheckRunOutput is a check run's output. Annotations accumulate across
// updates, as on GitHub.
type CheckRunOutput struct {
	Title       string       `json:"title"`
	Summary     string       `json:"summary"`
	Text        string       `json:"text"`
	Annotations []Annotation `json:"annotations"`
}

// Annotation is one annotation of a check run.
type Annotation struct {
	Path            string `json:"path"`
	StartLine       int    `json:"start_line"`
	EndLine         int    `json:"end_line"`
	StartColumn     int    `json:"start_column,omitempty"`
	EndColumn       int    `json:"end_column,omitempty"`
	AnnotationLevel string `json:"annotation_level"`
	Message         string `json:"message"`
	Title           string `json:"title,omitempty"`
	RawDetails      string `json:"raw_details,omitempty"`
}

// CheckRunAction is a button GitHub shows on a check run.
type CheckRunAction struct {
	Label       string `json:"label"`
	Description string `json:"description"`
	Identifier  string `json:"identifier"`
}

// CheckRuns returns the check runs of repo, oldest first.
func (s *Server) CheckRuns(repo string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repo)]
	if r == nil {
		return nil
	}
	out := make([]CheckRun, 0, len(r.checkRuns))
	for _, cr := range r.checkRuns {
		out = append(out, cr.clone())
	}
	return out
}

func (c *CheckRun) clone() CheckRun {
	out := *c
	out.Output.Annotations = slices.Clone(c.Output.Annotations)
	out.Actions = slices.Clone(c.Actions)
	out.History = slices.Clone(c.History)
	return out
}

// checkRunBody is the body of a check-run create or update; pointers tell a
// missing field from an empty one.
type checkRunBody struct {
	Name        *string           `json:"name"`
	HeadSHA     *string           `json:"head_sha"`
	DetailsURL  *string           `json:"details_url"`
	ExternalID  *string           `json:"external_id"`
	Status      *string           `json:"status"`
	Conclusion  *string           `json:"conclusion"`
	StartedAt   *time.Time        `json:"started_at"`
	CompletedAt *time.Time        `json:"completed_at"`
	Output      *outputBody       `json:"output"`
	Actions     *[]CheckRunAction `json:"actions"`
}

type outputBody struct {
	Title       *string      `json:"title"`
	Summary     *string      `json:"summary"`
	Text        *string      `json:"text"`
	Annotations []Annotation `json:"annotations"`
}

func (s *Server) handleCreateCheckRun(w http.ResponseWriter, r *http.Request) {
	var body checkRunBody
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "checks", "write")
	if !ok {
		return
	}
	if errs := validateCheckRun(body, true); len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	cr := &CheckRun{ID: s.newID(), Status: "queued", StartedAt: time.Now().UTC().Truncate(time.Second)}
	cr.apply(body)
	repo.checkRuns = append(repo.checkRuns, cr)
	writeJSON(w, http.StatusCreated, s.checkRunJSON(repo, cr))
}

func (s *Server) handleUpdateCheckRun(w http.ResponseWriter, r *http.Request) {
	var body checkRunBody
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, cr, ok := s.lookupCheckRun(w, r, "write")
	if !ok {
		return
	}
	if errs := validateCheckRun(body, false); len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	if rule := reopens(cr, body); rule != "" {
		s.violations = append(s.violations, Violation{Method: r.Method, Path: r.URL.Path, CheckRunID: cr.ID, Rule: rule})
		writeInvalid(w, invalid("CheckRun", "status", "%s", rule))
		return
	}
	cr.apply(body)
	writeJSON(w, http.StatusOK, s.checkRunJSON(repo, cr))
}

// reopens returns why body may not be applied to a completed check run, or "".
//
// "Once a check run transitions from the in_progress state to completed state,
// it's not possible to modify its status nor its conclusion further" (GitHub
// staff on the GitHub Support Community, "Stale check runs",
// https://github.community/t/stale-check-runs/120566; also
// lyft/atlantis#265: "once a check run has been marked completed, it can't be
// set to in_progress"). Neither source says what GitHub answers. The server
// models the stricter of "ignored" and "refused": it refuses with 422, so the
// client sees it, and records a Violation, so a test fails on it even when
// the client only logs the error. Output, annotations and actions of a
// completed run may still change, as GitHub allows (annotations past the
// first 50 are added by later updates).
func reopens(cr *CheckRun, b checkRunBody) string {
	if cr.Status != "completed" {
		return ""
	}
	if b.Status != nil && *b.Status != "completed" && b.Conclusion == nil {
		return "a completed check run cannot be moved back to " + *b.Status
	}
	if b.Conclusion != nil && *b.Conclusion != cr.Conclusion {
		return "the conclusion of a completed check run cannot change from " + cr.Conclusion + " to " + *b.Conclusion
	}
	return ""
}

// Violation is a request that broke a rule of GitHub's which a client could
// miss because it logs and goes on, such as moving a completed check run back
// to queued.
type Violation struct {
	Method string
	// Path is the request path without any /api/v3 prefix.
	Path       string
	CheckRunID int64
	// Rule says what was broken.
	Rule string
}

// Violations returns every rule-breaking request so far, oldest first. A test
// that drives a full deployment should fail when it is not empty.
func (s *Server) Violations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// PressAction plays a user pressing the button identifier on check run id of
// repo and returns the run as GitHub would put it in the check_run
// requested_action event. It fails when GitHub would not show the button:
// "The button created in this object is displayed after the check run
// completes" (REST reference, actions), so only a completed run's buttons can
// be pressed, and only the ones it carries.
func (s *Server) PressAction(repo string, id int64, identifier string) (CheckRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repo)]
	if r == nil {
		return CheckRun{}, fmt.Errorf("githubtest: repository %s is not installed", repo)
	}
	for _, cr := range r.checkRuns {
		if cr.ID != id {
			continue
		}
		if cr.Status != "completed" {
			return CheckRun{}, fmt.Errorf("githubtest: check run %d is %s: GitHub shows its buttons only once it is completed", id, cr.Status)
		}
		if !slices.ContainsFunc(cr.Actions, func(a CheckRunAction) bool { return a.Identifier == identifier }) {
			return CheckRun{}, fmt.Errorf("githubtest: check run %d has no button %q", id, identifier)
		}
		return cr.clone(), nil
	}
	return CheckRun{}, fmt.Errorf("githubtest: no check run %d in %s", id, repo)
}

func (s *Server) handleGetCheckRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, cr, ok := s.lookupCheckRun(w, r, "read")
	if ok {
		writeJSON(w, http.StatusOK, s.checkRunJSON(repo, cr))
	}
}

// lookupCheckRun authorizes r and finds check run {id} of the repository.
// The caller holds s.mu.
func (s *Server) lookupCheckRun(w http.ResponseWriter, r *http.Request, level string) (*repository, *CheckRun, bool) {
	repo, ok := s.authRepo(w, r, "checks", level)
	if !ok {
		return nil, nil, false
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, cr := range repo.checkRuns {
		if cr.ID == id {
			return repo, cr, true
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
	return nil, nil, false
}

// handleListCheckRunsForRef lists the check runs of a commit. ref may be a SHA
// or the head branch of a known pull request. filter=latest (the default)
// keeps only the newest run of each name.
func (s *Server) handleListCheckRunsForRef(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "checks", "read")
	if !ok {
		return
	}
	sha := repo.resolveRef(r.PathValue("ref"))
	q := r.URL.Query()
	var runs []map[string]any
	seen := map[string]bool{}
	for _, cr := range slices.Backward(repo.checkRuns) {
		if cr.HeadSHA != sha || (q.Get("check_name") != "" && cr.Name != q.Get("check_name")) ||
			(q.Get("status") != "" && cr.Status != q.Get("status")) {
			continue
		}
		if q.Get("filter") != "all" && seen[cr.Name] {
			continue
		}
		seen[cr.Name] = true
		runs = append(runs, s.checkRunJSON(repo, cr))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(runs), "check_runs": append([]map[string]any{}, runs...)})
}

// resolveRef maps a pull request's head branch to its SHA; anything else is
// taken as a SHA.
func (r *repository) resolveRef(ref string) string {
	for _, pr := range r.pulls {
		if pr.HeadRef == ref || "refs/heads/"+pr.HeadRef == ref {
			return pr.HeadSHA
		}
	}
	return ref
}

// apply merges a validated body into the check run and appends the result to
// its history.
func (c *CheckRun) apply(b checkRunBody) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	if b.Name != nil && *b.Name != "" {
		c.Name = *b.Name
	}
	set(&c.HeadSHA, b.HeadSHA)
	set(&c.DetailsURL, b.DetailsURL)
	set(&c.ExternalID, b.ExternalID)
	set(&c.Status, b.Status)
	if b.StartedAt != nil {
		c.StartedAt = *b.StartedAt
	}
	// A conclusion completes the run, whatever status was sent with it.
	if b.Conclusion != nil {
		c.Conclusion, c.Status = *b.Conclusion, "completed"
	}
	if c.Status == "completed" && c.CompletedAt.IsZero() {
		c.CompletedAt = time.Now().UTC().Truncate(time.Second)
	}
	if b.CompletedAt != nil {
		c.CompletedAt = *b.CompletedAt
	}
	if o := b.Output; o != nil {
		set(&c.Output.Title, o.Title)
		set(&c.Output.Summary, o.Summary)
		set(&c.Output.Text, o.Text)
		c.Output.Annotations = append(c.Output.Annotations, o.Annotations...)
	}
	if b.Actions != nil {
		c.Actions = slices.Clone(*b.Actions)
	}
	snap := c.clone()
	snap.History = nil
	c.History = append(c.History, snap)
}

func (s *Server) checkRunJSON(repo *repository, c *CheckRun) map[string]any {
	url := s.srv.URL + "/repos/" + repo.fullName() + "/check-runs/" + itoa(c.ID)
	out := map[string]any{
		"id": c.ID, "node_id": "CR_" + itoa(c.ID), "name": c.Name, "head_sha": c.HeadSHA,
		"external_id": c.ExternalID, "details_url": c.DetailsURL, "status": c.Status,
		"conclusion": nil, "started_at": c.StartedAt.Format(time.RFC3339), "completed_at": nil,
		"url": url, "html_url": "https://github.com/" + repo.fullName() + "/runs/" + itoa(c.ID),
		"output": map[string]any{
			"title": c.Output.Title, "summary": c.Output.Summary, "text": c.Output.Text,
			"annotations_count": len(c.Output.Annotations), "annotations_url": url + "/annotations",
		},
		"check_suite":   map[string]any{"id": c.ID + 1},
		"app":           s.appJSON(),
		"pull_requests": []any{},
	}
	if c.Conclusion != "" {
		out["conclusion"] = c.Conclusion
	}
	if !c.CompletedAt.IsZero() {
		out["completed_at"] = c.CompletedAt.Format(time.RFC3339)
	}
	return out
}

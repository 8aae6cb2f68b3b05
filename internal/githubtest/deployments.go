package githubtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Deployment is a GitHub Deployment with its statuses, oldest first.
type Deployment struct {
	ID                    int64
	Ref                   string
	SHA                   string
	Task                  string
	Environment           string
	Description           string
	Payload               json.RawMessage
	TransientEnvironment  bool
	ProductionEnvironment bool
	Creator               string
	CreatedAt             time.Time
	Statuses              []DeploymentStatus
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	Environment    string
	EnvironmentURL string
	LogURL         string
	TargetURL      string
	Creator        string
	CreatedAt      time.Time
}

// Deployments returns the deployments of repo with their statuses, oldest first.
func (s *Server) Deployments(repo string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repo)]
	if r == nil {
		return nil
	}
	out := make([]Deployment, 0, len(r.deployments))
	for _, d := range r.deployments {
		c := *d
		c.Statuses = slices.Clone(d.Statuses)
		out = append(out, c)
	}
	return out
}

type deploymentBody struct {
	Ref                   *string         `json:"ref"`
	Task                  *string         `json:"task"`
	Environment           *string         `json:"environment"`
	Description           *string         `json:"description"`
	Payload               json.RawMessage `json:"payload"`
	TransientEnvironment  bool            `json:"transient_environment"`
	ProductionEnvironment *bool           `json:"production_environment"`
	AutoMerge             *bool           `json:"auto_merge"`
	RequiredContexts      *[]string       `json:"required_contexts"`
}

// handleCreateDeployment creates a deployment of ref, which may be a SHA or the
// head branch of a known pull request. As on GitHub
// (https://docs.github.com/rest/deployments/deployments#create-a-deployment),
// leaving out auto_merge and required_contexts is not neutral:
//
//   - auto_merge "Attempts to automatically merge the default branch into the
//     requested ref, if it's behind the default branch. Default: true." See
//     autoMerge.
//   - required_contexts: "If you omit this parameter, GitHub verifies all
//     unique contexts before creating a deployment. To bypass checking
//     entirely, pass an empty array." The contexts are the commit's check
//     runs and commit statuses (the newest of each name; "commit statuses
//     for every submitted context must be in a success state", same page),
//     and each must be success, else 409 "Conflict: Commit status checks
//     failed for <ref>." (the reference's 409 example) with the failing
//     contexts. A check run that is still queued or in progress fails the
//     check, as a pending status does on GitHub.
func (s *Server) handleCreateDeployment(w http.ResponseWriter, r *http.Request) {
	var b deploymentBody
	if !decodeBody(w, r, &b) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "deployments", "write")
	if !ok {
		return
	}
	if b.Ref == nil || *b.Ref == "" {
		writeInvalid(w, missing("Deployment", "ref"))
		return
	}
	d := &Deployment{
		ID: s.newID(), Ref: *b.Ref, SHA: repo.resolveRef(*b.Ref), Task: "deploy", Environment: "production",
		Payload: b.Payload, TransientEnvironment: b.TransientEnvironment, Creator: botLogin(),
		CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	if !isSHA(d.SHA) {
		writeError(w, http.StatusUnprocessableEntity, "No ref found for: "+d.Ref)
		return
	}
	if b.AutoMerge == nil || *b.AutoMerge {
		if status, msg := repo.autoMerge(*b.Ref, d.SHA); status != 0 {
			writeJSON(w, status, map[string]any{"message": msg, "documentation_url": docsURL + "/deployments/deployments#create-a-deployment"})
			return
		}
	}
	if failed := repo.failedContexts(d.SHA, b.RequiredContexts); len(failed) > 0 {
		writeJSON(w, http.StatusConflict, map[string]any{
			"message": "Conflict: Commit status checks failed for " + *b.Ref + ".",
			"errors": []map[string]any{{
				"contexts": failed, "resource": "Deployment", "field": "required_contexts", "code": "invalid",
			}},
			"documentation_url": docsURL + "/deployments/deployments#create-a-deployment",
		})
		return
	}
	setIf(&d.Task, b.Task)
	setIf(&d.Environment, b.Environment)
	setIf(&d.Description, b.Description)
	d.ProductionEnvironment = d.Environment == "production"
	if b.ProductionEnvironment != nil {
		d.ProductionEnvironment = *b.ProductionEnvironment
	}
	repo.deployments = append(repo.deployments, d)
	writeJSON(w, http.StatusCreated, s.deploymentJSON(repo, d))
}

// autoMerge plays auto_merge for a deployment of ref (resolved to sha). When
// the default branch's head (SetBranch "main") is known and is not sha, ref
// counts as behind it: the server keeps no commit graph, so "not the head" is
// the stricter reading of "behind". GitHub then merges the default branch
// into a branch ref and answers 202 "Auto-merged main into <ref> on
// deployment." without creating a deployment (the merge commit is pushed
// instead); a bare SHA cannot take a merge, so it is 409 "Conflict merging
// main into <ref>.", the reference's answer for a merge that cannot be made.
// The 202 and 409 bodies are the reference's examples ("Create a
// deployment", responses 202 "merged-branch-response" and 409); that a bare
// SHA gets the 409 is this server's choice: no GitHub source says what
// auto_merge does to a SHA ref.
// It returns 0 when the deployment may go ahead.
func (r *repository) autoMerge(ref, sha string) (int, string) {
	const base = "main"
	head, ok := r.branches[base]
	if !ok || head == sha || ref == base {
		return 0, ""
	}
	if isSHA(ref) {
		return http.StatusConflict, "Conflict merging " + base + " into " + ref + "."
	}
	return http.StatusAccepted, "Auto-merged " + base + " into " + ref + " on deployment."
}

// failedContexts returns the contexts of sha that are not success, among
// required (nil: every context of the commit), in GitHub's
// {"context", "state"} shape. A context is a check run's name or a commit
// status's context; when both exist, both must be success (as for required
// status checks: "If you have a check and a status with the same name ...
// both the check and the status are required", "Troubleshooting required
// status checks", GitHub Docs). A required context the commit lacks is
// pending.
func (r *repository) failedContexts(sha string, required *[]string) []map[string]string {
	latest := map[string]*CheckRun{}
	statuses := map[string]string{} // context → newest state
	var names []string
	for _, cr := range r.checkRuns {
		if cr.HeadSHA != sha {
			continue
		}
		if latest[cr.Name] == nil {
			names = append(names, cr.Name)
		}
		latest[cr.Name] = cr
	}
	for _, st := range r.statuses {
		if st.SHA != sha {
			continue
		}
		if _, seen := statuses[st.Context]; !seen && latest[st.Context] == nil {
			names = append(names, st.Context)
		}
		statuses[st.Context] = st.State
	}
	if required != nil {
		names = *required
	}
	var failed []map[string]string
	for _, name := range names {
		cr := latest[name]
		st, hasStatus := statuses[name]
		state := "pending"
		if cr != nil && cr.Status == "completed" {
			state = "failure"
			if cr.Conclusion == "success" {
				state = "success"
			}
		}
		switch {
		case hasStatus && cr == nil:
			state = st
		case hasStatus && state == "success":
			state = st
		}
		if state != "success" {
			failed = append(failed, map[string]string{"context": name, "state": state})
		}
	}
	return failed
}

func setIf(dst, src *string) {
	if src != nil && *src != "" {
		*dst = *src
	}
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// handleListDeployments lists deployments newest first, filtered by the sha,
// ref, task and environment query parameters.
func (s *Server) handleListDeployments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "deployments", "read")
	if !ok {
		return
	}
	q := r.URL.Query()
	match := func(want, got string) bool { return want == "" || want == got }
	out := []map[string]any{}
	for _, d := range slices.Backward(repo.deployments) {
		if match(q.Get("sha"), d.SHA) && match(q.Get("ref"), d.Ref) && match(q.Get("task"), d.Task) && match(q.Get("environment"), d.Environment) {
			out = append(out, s.deploymentJSON(repo, d))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// lookupDeployment authorizes r and finds deployment {id}. The caller holds s.mu.
func (s *Server) lookupDeployment(w http.ResponseWriter, r *http.Request, level string) (*repository, *Deployment, bool) {
	repo, ok := s.authRepo(w, r, "deployments", level)
	if !ok {
		return nil, nil, false
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, d := range repo.deployments {
		if d.ID == id {
			return repo, d, true
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
	return nil, nil, false
}

type statusBody struct {
	State          string  `json:"state"`
	TargetURL      string  `json:"target_url"`
	LogURL         string  `json:"log_url"`
	Description    string  `json:"description"`
	Environment    *string `json:"environment"`
	EnvironmentURL string  `json:"environment_url"`
	AutoInactive   *bool   `json:"auto_inactive"`
}

// handleCreateStatus adds a status. As on GitHub, a success makes earlier
// successful deployments of the same environment inactive unless
// auto_inactive is false.
func (s *Server) handleCreateStatus(w http.ResponseWriter, r *http.Request) {
	var b statusBody
	if !decodeBody(w, r, &b) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, d, ok := s.lookupDeployment(w, r, "write")
	if !ok {
		return
	}
	errs := oneOf("DeploymentStatus", "state", b.State, deploymentStates)
	// "The maximum description length is 140 characters" ("Create a
	// deployment status", https://docs.github.com/rest/deployments/statuses#create-a-deployment-status);
	// bytes here, the stricter reading.
	if len(b.Description) > maxStatusDescChars {
		errs = append(errs, tooLong("DeploymentStatus", "description", maxStatusDescChars))
	}
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	if b.Environment != nil && *b.Environment != "" {
		d.Environment = *b.Environment
	}
	st := DeploymentStatus{
		ID: s.newID(), State: b.State, Description: b.Description, Environment: d.Environment,
		EnvironmentURL: b.EnvironmentURL, LogURL: b.LogURL, TargetURL: b.TargetURL,
		Creator: botLogin(), CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	if b.LogURL == "" {
		st.LogURL = b.TargetURL
	}
	d.Statuses = append(d.Statuses, st)
	if b.State == "success" && (b.AutoInactive == nil || *b.AutoInactive) {
		s.deactivateOthers(repo, d)
	}
	writeJSON(w, http.StatusCreated, s.statusJSON(repo, d, st))
}

// deactivateOthers marks the other deployments of d's environment whose latest
// status is success inactive. The caller holds s.mu.
func (s *Server) deactivateOthers(repo *repository, d *Deployment) {
	for _, other := range repo.deployments {
		n := len(other.Statuses)
		if other == d || other.Environment != d.Environment || n == 0 || other.Statuses[n-1].State != "success" {
			continue
		}
		other.Statuses = append(other.Statuses, DeploymentStatus{
			ID: s.newID(), State: "inactive", Environment: other.Environment,
			Creator: botLogin(), CreatedAt: time.Now().UTC().Truncate(time.Second),
		})
	}
}

func (s *Server) handleListStatuses(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, d, ok := s.lookupDeployment(w, r, "read")
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, st := range slices.Backward(d.Statuses) {
		out = append(out, s.statusJSON(repo, d, st))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deploymentJSON(repo *repository, d *Deployment) map[string]any {
	url := s.srv.URL + "/repos/" + repo.fullName() + "/deployments/" + itoa(d.ID)
	payload := d.Payload
	if len(payload) == 0 || string(payload) == "null" {
		payload = json.RawMessage("{}")
	}
	return map[string]any{
		"id": d.ID, "node_id": "DE_" + itoa(d.ID), "url": url, "sha": d.SHA, "ref": d.Ref, "task": d.Task,
		"payload": payload, "environment": d.Environment, "original_environment": d.Environment,
		"description": d.Description, "creator": userJSON(d.Creator), "created_at": d.CreatedAt, "updated_at": d.CreatedAt,
		"statuses_url": url + "/statuses", "repository_url": s.srv.URL + "/repos/" + repo.fullName(),
		"transient_environment": d.TransientEnvironment, "production_environment": d.ProductionEnvironment,
	}
}

func (s *Server) statusJSON(repo *repository, d *Deployment, st DeploymentStatus) map[string]any {
	durl := s.srv.URL + "/repos/" + repo.fullName() + "/deployments/" + itoa(d.ID)
	return map[string]any{
		"id": st.ID, "node_id": "DES_" + itoa(st.ID), "url": durl + "/statuses/" + itoa(st.ID),
		"state": st.State, "description": st.Description, "environment": st.Environment,
		"environment_url": st.EnvironmentURL, "log_url": st.LogURL, "target_url": st.TargetURL,
		"creator": userJSON(st.Creator), "created_at": st.CreatedAt, "updated_at": st.CreatedAt,
		"deployment_url": durl, "repository_url": s.srv.URL + "/repos/" + repo.fullName(),
	}
}

package githubtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
}

// handleCreateDeployment creates a deployment of ref. The server does not model
// branches or commit statuses, so it neither merges the default branch
// (auto_merge) nor checks required_contexts; a ref that is not a 40-hex SHA is
// resolved through the head branches of known pull requests.
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
	if utf8.RuneCountInString(b.Description) > maxStatusDescChars {
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

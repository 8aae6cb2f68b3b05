package api

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"

	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// deployBody is the body of POST /api/v1/deploy, in the seed's terms.
type deployBody struct {
	GitHubConnectionID string `json:"githubConnectionId"`
	AWSConnectionID    string `json:"awsConnectionId"`
	Branch             string `json:"branch"`
	SHA                string `json:"sha"`
	Environment        string `json:"environment"`
	Cluster            string `json:"cluster"`
	Service            string `json:"service"`
	TaskFamily         string `json:"taskFamily"`
	ContainerPort      int    `json:"containerPort"`
	DesiredCount       *int   `json:"desiredCount"`
}

var (
	shaPattern    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	branchPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}$`)
	// git refuses these in ref names (git check-ref-format).
	badBranchPattern = regexp.MustCompile(`\.\.|//|@\{|\.lock$|/$|\.$`)
	envPattern       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	ecsPattern       = regexp.MustCompile(`^[A-Za-z0-9_:/.-]{1,255}$`)
	familyPattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

func (b deployBody) validate() error {
	switch {
	case !connections.ValidRepo(b.GitHubConnectionID):
		return badField("githubConnectionId", "required: the owner/name of a connected repository")
	case b.AWSConnectionID != "" && !connections.ValidName(b.AWSConnectionID):
		return badField("awsConnectionId", "not a connection name")
	case b.Branch == "" && b.SHA == "":
		return badField("branch", "required (or sha)")
	case b.Branch != "" && (!branchPattern.MatchString(b.Branch) || badBranchPattern.MatchString(b.Branch)):
		return badField("branch", "not a valid branch name")
	case b.SHA != "" && !shaPattern.MatchString(b.SHA):
		return badField("sha", "must be a full 40-character lowercase commit SHA")
	case b.Environment != "" && !envPattern.MatchString(b.Environment):
		return badField("environment", "1 to 64 letters, digits, '_' or '-'")
	case b.Cluster != "" && !ecsPattern.MatchString(b.Cluster):
		return badField("cluster", "not an ECS cluster name or ARN")
	case b.Service != "" && !ecsPattern.MatchString(b.Service):
		return badField("service", "not an ECS service name or ARN")
	case b.TaskFamily != "" && !familyPattern.MatchString(b.TaskFamily):
		return badField("taskFamily", "not a task definition family")
	case b.ContainerPort < 0 || b.ContainerPort > 65535:
		return badField("containerPort", "must be between 1 and 65535")
	case b.DesiredCount != nil && (*b.DesiredCount < 0 || *b.DesiredCount > 1000):
		return badField("desiredCount", "must be between 0 and 1000")
	}
	return nil
}

func (s *server) deploy(w http.ResponseWriter, r *http.Request) error {
	var b deployBody
	if err := decode(w, r, &b); err != nil {
		return err
	}
	if err := b.validate(); err != nil {
		return err
	}
	gh, err := s.Connections.GitHub(r.Context(), b.GitHubConnectionID)
	if errors.Is(err, connections.ErrNotFound) {
		return badField("githubConnectionId", "no GitHub connection %s; register it with POST /api/v1/connect/github", b.GitHubConnectionID)
	}
	if err != nil {
		return err
	}
	if b.AWSConnectionID != "" {
		if _, err := s.Connections.AWS(r.Context(), b.AWSConnectionID); errors.Is(err, connections.ErrNotFound) {
			return badField("awsConnectionId", "no AWS connection %s; register it with POST /api/v1/connect/aws", b.AWSConnectionID)
		} else if err != nil {
			return err
		}
	}
	if s.Deployer == nil {
		return &Error{Status: http.StatusServiceUnavailable, Message: "manual deployments are not configured"}
	}
	d, err := s.Deployer.Deploy(r.Context(), deployment.Request{
		Repo: gh.Repo, InstallationID: gh.InstallationID, AWSConnection: b.AWSConnectionID,
		Branch: b.Branch, SHA: b.SHA, Environment: b.Environment, Cluster: b.Cluster, Service: b.Service,
		TaskFamily: b.TaskFamily, ContainerPort: b.ContainerPort, DesiredCount: b.DesiredCount,
		Trigger: deployment.TriggerAPI, Actor: "api",
	})
	if err != nil {
		return deployError(err)
	}
	w.Header().Set("Location", "/api/v1/deploy/"+d.ID+"/result")
	return writeOK(w, http.StatusAccepted, "deployment "+d.ID+" accepted", map[string]any{
		"deploymentId": d.ID,
		"status":       d.Status,
		"eventsUrl":    s.PublicURL + "/api/v1/deploy/" + d.ID + "/events",
		"resultUrl":    s.PublicURL + "/api/v1/deploy/" + d.ID + "/result",
		"pageUrl":      s.PublicURL + "/deployments/" + d.ID,
	})
}

func deployError(err error) error {
	if pipeline.IsPermanent(err) {
		return &Error{Status: http.StatusBadRequest, Message: pipeline.UserMessage(err, "the deployment was refused")}
	}
	return &Error{Status: http.StatusServiceUnavailable, Message: "cannot start the deployment now; try again"}
}

var statuses = map[store.Status]bool{
	store.StatusQueued: true, store.StatusRunning: true, store.StatusSucceeded: true, store.StatusFailed: true,
	store.StatusTimeout: true, store.StatusCanceled: true, store.StatusSuperseded: true,
}

func (s *server) listDeployments(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.Filter{Repo: q.Get("repo"), SHA: q.Get("sha"), Status: store.Status(q.Get("status"))}
	switch {
	case f.Repo != "" && !connections.ValidRepo(f.Repo):
		return badField("repo", "must be owner/name")
	case f.SHA != "" && !shaPattern.MatchString(f.SHA):
		return badField("sha", "must be a full 40-character lowercase commit SHA")
	case f.Status != "" && !statuses[f.Status]:
		return badField("status", "must be one of QUEUED, RUNNING, SUCCEEDED, FAILED, TIMEOUT, CANCELED, SUPERSEDED")
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			return badField("limit", "must be a number from 1 to 200")
		}
		f.Limit = n
	}
	list, err := s.Store.List(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]result, 0, len(list))
	for _, d := range list {
		out = append(out, s.resultOf(d))
	}
	return writeOK(w, http.StatusOK, "", out)
}

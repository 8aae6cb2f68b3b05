package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/names"
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

func (b deployBody) validate() error {
	switch {
	case b.GitHubConnectionID == "":
		return badField("githubConnectionId", "required: the owner/name of a connected repository")
	case b.Branch == "" && b.SHA == "":
		return badField("branch", "required (or sha)")
	}
	if err := firstBad(
		badName("githubConnectionId", names.Repo(b.GitHubConnectionID)),
		badName("awsConnectionId", optional(names.Connection, b.AWSConnectionID)),
		badName("branch", optional(names.Branch, b.Branch)),
		badName("sha", optional(names.SHA, b.SHA)),
		badName("environment", optional(names.Environment, b.Environment)),
		badName("cluster", optional(names.ECSCluster, b.Cluster)),
		badName("service", optional(names.ECSService, b.Service)),
		badName("taskFamily", optional(names.ECSName, b.TaskFamily)),
	); err != nil {
		return err
	}
	switch {
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
	case f.Repo != "" && names.Repo(f.Repo) != nil:
		return badName("repo", names.Repo(f.Repo))
	case f.SHA != "" && names.SHA(f.SHA) != nil:
		return badName("sha", names.SHA(f.SHA))
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

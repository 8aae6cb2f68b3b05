package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// deployBody is the body of POST /api/v1/deploy: the seed's fields and Panda's.
// encoding/json matches names case-insensitively, so the seed's
// gitHubConnectionId and Panda's githubConnectionId both land in
// GitHubConnectionID. The connection fields take a conn_ id or Panda's key
// (owner/name, the AWS connection's name). The ECS fields have two spellings,
// the seed's ecs*Name and Panda's; giving both with different values is a 400.
type deployBody struct {
	GitHubConnectionID string `json:"githubConnectionId"`
	AWSConnectionID    string `json:"awsConnectionId"`
	Branch             string `json:"branch"`
	SHA                string `json:"sha"`
	Environment        string `json:"environment"`
	Cluster            string `json:"cluster"`
	Service            string `json:"service"`
	TaskFamily         string `json:"taskFamily"`
	ECSClusterName     string `json:"ecsClusterName"`
	ECSServiceName     string `json:"ecsServiceName"`
	ECSTaskFamily      string `json:"ecsTaskFamily"`
	ContainerPort      int    `json:"containerPort"`
	DesiredCount       *int   `json:"desiredCount"`
}

// merge folds the seed's spelling of a field into Panda's, refusing two
// different values.
func merge(panda *string, seed, pandaName, seedName string) error {
	switch {
	case seed == "":
	case *panda != "" && *panda != seed:
		return badField(seedName, "differs from %s; give one of them", pandaName)
	default:
		*panda = seed
	}
	return nil
}

func (b *deployBody) normalize() error {
	if err := merge(&b.Cluster, b.ECSClusterName, "cluster", "ecsClusterName"); err != nil {
		return err
	}
	if err := merge(&b.Service, b.ECSServiceName, "service", "ecsServiceName"); err != nil {
		return err
	}
	return merge(&b.TaskFamily, b.ECSTaskFamily, "taskFamily", "ecsTaskFamily")
}

func (b deployBody) validate() error {
	if !connections.ValidID(b.GitHubConnectionID) && !connections.ValidRepo(b.GitHubConnectionID) {
		return badField("gitHubConnectionId", "required: the conn_ id (or owner/name) of a connected repository")
	}
	if err := firstBad(
		badName("awsConnectionId", optional(names.Connection, b.AWSConnectionID)),
		badName("branch", optional(names.Branch, b.Branch)),
		badName("sha", optional(names.SHA, b.SHA)),
		badName("environment", optional(names.Environment, b.Environment)),
		badName("ecsClusterName", optional(names.ECSCluster, b.Cluster)),
		badName("ecsServiceName", optional(names.ECSService, b.Service)),
		badName("ecsTaskFamily", optional(names.ECSName, b.TaskFamily)),
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

// deployAccepted is the answer of POST /api/v1/deploy: the seed's
// {deploymentId, status, startTime} and Panda's links.
type deployAccepted struct {
	DeploymentID string       `json:"deploymentId"`
	Status       store.Status `json:"status"`
	StartTime    utcTime      `json:"startTime"`
	EventsURL    string       `json:"eventsUrl"`
	ResultURL    string       `json:"resultUrl"`
	PageURL      string       `json:"pageUrl"`
}

func (s *server) deploy(w http.ResponseWriter, r *http.Request) error {
	var b deployBody
	if err := decode(w, r, &b); err != nil {
		return err
	}
	if err := b.normalize(); err != nil {
		return err
	}
	if err := b.validate(); err != nil {
		return err
	}
	gh, awsName, err := s.deployConnections(r.Context(), b)
	if err != nil {
		return err
	}
	if b.Branch == "" && b.SHA == "" {
		b.Branch = gh.Branch // the seed's way: the connection names the branch
	}
	if b.Branch == "" && b.SHA == "" {
		return badField("branch", "required (or sha), since connection %s names no branch", b.GitHubConnectionID)
	}
	if s.Deployer == nil {
		return &Error{Status: http.StatusServiceUnavailable, Message: "manual deployments are not configured"}
	}
	d, err := s.Deployer.Deploy(r.Context(), deployment.Request{
		Repo: gh.Repo, InstallationID: gh.InstallationID, AWSConnection: awsName,
		Branch: b.Branch, SHA: b.SHA, Environment: b.Environment, Cluster: b.Cluster, Service: b.Service,
		TaskFamily: b.TaskFamily, ContainerPort: b.ContainerPort, DesiredCount: b.DesiredCount,
		Trigger: deployment.TriggerAPI, Actor: "api:" + caller(r.Context()),
	})
	if err != nil {
		if pipeline.IsPermanent(err) {
			s.record(r.Context(), audit.Entry{Action: audit.DeploymentRequested, Outcome: "refused", Trigger: deployment.TriggerAPI,
				Repo: gh.Repo, Environment: b.Environment, Commit: b.SHA, TaskDefinition: b.TaskFamily,
				Reason: pipeline.UserMessage(err, "the deployment was refused")})
		}
		return deployError(err)
	}
	s.record(r.Context(), audit.ForDeployment(d, audit.DeploymentRequested, "accepted"))
	w.Header().Set("Location", "/api/v1/deploy/"+d.ID+"/result")
	start := d.StartedAt
	if start.IsZero() {
		start = d.CreatedAt // QUEUED: the seed's startTime is when the request was taken
	}
	return writeOK(w, http.StatusAccepted, "deployment "+d.ID+" accepted", deployAccepted{
		DeploymentID: d.ID, Status: d.Status, StartTime: utcTime(start),
		EventsURL: s.PublicURL + "/api/v1/deploy/" + d.ID + "/events",
		ResultURL: s.PublicURL + "/api/v1/deploy/" + d.ID + "/result",
		PageURL:   s.PublicURL + "/deployments/" + d.ID,
	})
}

// deployConnections looks up the body's GitHub connection and the name of its
// AWS connection (the name is what the worker resolves).
func (s *server) deployConnections(ctx context.Context, b deployBody) (connections.GitHub, string, error) {
	repo, err := s.findConnection(ctx, "github", b.GitHubConnectionID)
	var gh connections.GitHub
	if err == nil {
		gh, err = s.Connections.GitHub(ctx, repo)
	}
	if errors.Is(err, connections.ErrNotFound) {
		return gh, "", badField("gitHubConnectionId", "no GitHub connection %s; register it with POST /api/v1/connect/github", b.GitHubConnectionID)
	}
	if err != nil {
		return gh, "", err
	}
	if b.AWSConnectionID == "" {
		return gh, "", nil
	}
	name, err := s.findConnection(ctx, "aws", b.AWSConnectionID)
	if err == nil {
		_, err = s.Connections.AWS(ctx, name)
	}
	if errors.Is(err, connections.ErrNotFound) {
		return gh, "", badField("awsConnectionId", "no AWS connection %s; register it with POST /api/v1/connect/aws", b.AWSConnectionID)
	}
	return gh, name, err
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

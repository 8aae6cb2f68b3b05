package api

import (
	"net/http"
	"time"

	"github.com/pandadeploy/panda/store"
)

// result is the answer of GET /api/v1/deploy/{id}/result: the seed's fields
// plus where the deployment came from. Durations are in seconds.
type result struct {
	DeploymentID    string         `json:"deploymentId"`
	Status          store.Status   `json:"status"`
	StartTime       *time.Time     `json:"startTime"`
	EndTime         *time.Time     `json:"endTime"`
	Duration        float64        `json:"duration"`
	BlueServiceURL  string         `json:"blueServiceUrl"`
	GreenServiceURL string         `json:"greenServiceUrl"`
	NewImageURI     string         `json:"newImageUri"`
	Metrics         resultMetrics  `json:"metrics"`
	Repository      string         `json:"repository"`
	Commit          string         `json:"commit"`
	Branch          string         `json:"branch,omitempty"`
	Environment     string         `json:"environment"`
	Trigger         string         `json:"trigger"`
	Actor           string         `json:"actor,omitempty"`
	CreatedAt       time.Time      `json:"createdAt"`
	Error           *resultFailure `json:"error"`
}

// resultMetrics are the stage durations in seconds; 0 for a stage not finished.
type resultMetrics struct {
	GitCloneDuration    float64 `json:"gitCloneDuration"`
	DockerBuildDuration float64 `json:"dockerBuildDuration"`
	ECRPushDuration     float64 `json:"ecrPushDuration"`
	DeploymentDuration  float64 `json:"deploymentDuration"`
}

type resultFailure struct {
	Message string `json:"message"`
	Stage   string `json:"stage,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *server) resultOf(d *store.Deployment) result {
	res := result{
		DeploymentID: d.ID, Status: d.Status, StartTime: timePtr(d.StartedAt), EndTime: timePtr(d.EndedAt),
		Duration:       d.Duration(s.Now()).Seconds(),
		BlueServiceURL: d.BlueURL, GreenServiceURL: d.GreenURL, NewImageURI: d.ImageURI,
		Metrics: resultMetrics{
			GitCloneDuration:    d.StageDurations["clone"].Seconds(),
			DockerBuildDuration: d.StageDurations["build"].Seconds(),
			ECRPushDuration:     d.StageDurations["push"].Seconds(),
			DeploymentDuration:  d.StageDurations["deploy"].Seconds(),
		},
		Repository: d.Repo, Commit: d.SHA, Branch: d.Branch, Environment: d.Environment,
		Trigger: d.Trigger, Actor: d.Actor, CreatedAt: d.CreatedAt,
	}
	if d.Error != "" {
		res.Error = &resultFailure{Message: d.Error, Stage: d.ErrorStage}
	}
	return res
}

// deployment returns the deployment named by the {id} path value. A malformed
// id is a 404 like an unknown one: both mean "no such deployment".
func (s *server) deployment(r *http.Request) (*store.Deployment, error) {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return nil, store.ErrNotFound
	}
	return s.Store.Get(r.Context(), id)
}

func (s *server) result(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	return writeOK(w, http.StatusOK, "", s.resultOf(d))
}

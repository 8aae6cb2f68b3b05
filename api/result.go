package api

import (
	"net/http"
	"time"

	"github.com/pandadeploy/panda/store"
)

// result is the answer of GET /api/v1/deploy/{id}/result: the seed's fields
// plus where the deployment came from. Durations are integer milliseconds, as
// the seed's clients read them; times are RFC 3339 in UTC, null until known.
type result struct {
	DeploymentID    string         `json:"deploymentId"`
	Status          store.Status   `json:"status"`
	StartTime       *utcTime       `json:"startTime"`
	EndTime         *utcTime       `json:"endTime"`
	Duration        int64          `json:"duration"`
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
	CreatedAt       utcTime        `json:"createdAt"`
	Error           *resultFailure `json:"error"`
}

// resultMetrics are the stage durations in milliseconds; 0 for a stage not finished.
type resultMetrics struct {
	GitCloneDuration    int64 `json:"gitCloneDuration"`
	DockerBuildDuration int64 `json:"dockerBuildDuration"`
	ECRPushDuration     int64 `json:"ecrPushDuration"`
	DeploymentDuration  int64 `json:"deploymentDuration"`
}

type resultFailure struct {
	Message string `json:"message"`
	Stage   string `json:"stage,omitempty"`
}

// utcTime marshals as RFC 3339 in UTC with at most millisecond precision,
// like 2025-03-01T10:00:00.123Z: the seed's clients parse it as an instant.
type utcTime time.Time

func (t utcTime) MarshalJSON() ([]byte, error) {
	return time.Time(t).UTC().Truncate(time.Millisecond).MarshalJSON()
}

func timePtr(t time.Time) *utcTime {
	if t.IsZero() {
		return nil
	}
	u := utcTime(t)
	return &u
}

func (s *server) resultOf(d *store.Deployment) result {
	res := result{
		DeploymentID: d.ID, Status: d.Status, StartTime: timePtr(d.StartedAt), EndTime: timePtr(d.EndedAt),
		Duration:       d.Duration(s.Now()).Milliseconds(),
		BlueServiceURL: d.BlueURL, GreenServiceURL: d.GreenURL, NewImageURI: d.ImageURI,
		Metrics: resultMetrics{
			GitCloneDuration:    d.StageDurations["clone"].Milliseconds(),
			DockerBuildDuration: d.StageDurations["build"].Milliseconds(),
			ECRPushDuration:     d.StageDurations["push"].Milliseconds(),
			DeploymentDuration:  d.StageDurations["deploy"].Milliseconds(),
		},
		Repository: d.Repo, Commit: d.SHA, Branch: d.Branch, Environment: d.Environment,
		Trigger: d.Trigger, Actor: d.Actor, CreatedAt: utcTime(d.CreatedAt),
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

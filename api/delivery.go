package api

import (
	"net/http"
	"time"

	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/delivery"
	"github.com/pandadeploy/panda/names"
)

// defaultDeliveryWindow is how far back GET /api/v1/metrics/delivery and
// /delivery look without ?since=: the window of the Prometheus metrics.
const defaultDeliveryWindow = 30 * 24 * time.Hour

// deliveryAnswer is the data of GET /api/v1/metrics/delivery.
type deliveryAnswer struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// RollbackWindowSeconds is how long after a success a rollback counts it failed.
	RollbackWindowSeconds int64            `json:"rollbackWindowSeconds"`
	Environments          []deliveryReport `json:"environments"`
}

type deliveryReport struct {
	Repo               string         `json:"repo"`
	Environment        string         `json:"environment"`
	Deployments        int            `json:"deployments"`
	DeploymentsPerDay  float64        `json:"deploymentsPerDay"`
	DeploymentsPerWeek float64        `json:"deploymentsPerWeek"`
	LeadTime           deliverySample `json:"leadTime"`
	Changes            int            `json:"changes"`
	FailedChanges      int            `json:"failedChanges"`
	ChangeFailureRate  float64        `json:"changeFailureRate"`
	TimeToRestore      deliverySample `json:"timeToRestore"`
	Unrestored         int            `json:"unrestored"`
	Days               []deliveryDay  `json:"days"`
}

// deliverySample is a delivery.Durations in whole seconds.
type deliverySample struct {
	Count         int   `json:"count"`
	MedianSeconds int64 `json:"medianSeconds"`
	MeanSeconds   int64 `json:"meanSeconds"`
}

type deliveryDay struct {
	Date        string `json:"date"` // YYYY-MM-DD, UTC
	Deployments int    `json:"deployments"`
	Failures    int    `json:"failures"`
}

// deliveryQuery reads ?repo=&environment=&since= of the delivery routes.
func (s *server) deliveryQuery(r *http.Request) (repo, env string, since, until time.Time, err error) {
	v := r.URL.Query()
	repo, env, until = v.Get("repo"), v.Get("environment"), s.Now().UTC()
	since = until.Add(-defaultDeliveryWindow)
	switch {
	case repo != "" && !connections.ValidRepo(repo):
		return repo, env, since, until, badField("repo", "must be owner/name")
	case env != "" && names.Environment(env) != nil:
		return repo, env, since, until, badName("environment", names.Environment(env))
	}
	if raw := v.Get("since"); raw != "" {
		t, perr := time.Parse(time.RFC3339, raw)
		if perr != nil {
			return repo, env, since, until, badField("since", "must be an RFC 3339 time like 2025-03-01T00:00:00Z")
		}
		if !t.Before(until) {
			return repo, env, since, until, badField("since", "must be in the past")
		}
		since = t.UTC()
	}
	return repo, env, since, until, nil
}

// deliveryReports computes the answer of the delivery routes from the audit log.
func (s *server) deliveryReports(r *http.Request) (deliveryAnswer, error) {
	if err := s.auditLog(); err != nil {
		return deliveryAnswer{}, err
	}
	repo, env, since, until, err := s.deliveryQuery(r)
	if err != nil {
		return deliveryAnswer{}, err
	}
	deps, err := s.Audit.Deliveries(r.Context(), repo, env, since, until)
	if err != nil {
		return deliveryAnswer{}, err
	}
	w := delivery.Window{Since: since, Until: until}
	a := deliveryAnswer{Since: since, Until: until, RollbackWindowSeconds: int64(delivery.DefaultRollbackWindow / time.Second),
		Environments: []deliveryReport{}}
	for _, rep := range delivery.Compute(deps, w) {
		a.Environments = append(a.Environments, toDeliveryReport(rep))
	}
	return a, nil
}

func toDeliveryReport(r delivery.Report) deliveryReport {
	out := deliveryReport{Repo: r.Repo, Environment: r.Environment, Deployments: r.Deployments,
		DeploymentsPerDay: r.PerDay, DeploymentsPerWeek: r.PerWeek, LeadTime: sample(r.LeadTime),
		Changes: r.Changes, FailedChanges: r.FailedChanges, ChangeFailureRate: r.ChangeFailureRate,
		TimeToRestore: sample(r.TimeToRestore), Unrestored: r.Unrestored, Days: []deliveryDay{}}
	for _, d := range r.Days {
		out.Days = append(out.Days, deliveryDay{Date: d.Date.Format(time.DateOnly), Deployments: d.Deployments, Failures: d.Failures})
	}
	return out
}

func sample(d delivery.Durations) deliverySample {
	return deliverySample{Count: d.Count, MedianSeconds: int64(d.Median / time.Second), MeanSeconds: int64(d.Mean / time.Second)}
}

// deliveryMetrics serves GET /api/v1/metrics/delivery: package delivery's
// metrics per repository and environment over ?since= (30 days) to now.
func (s *server) deliveryMetrics(w http.ResponseWriter, r *http.Request) error {
	a, err := s.deliveryReports(r)
	if err != nil {
		return err
	}
	return writeOK(w, http.StatusOK, "", a)
}

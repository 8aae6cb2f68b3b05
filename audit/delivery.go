package audit

import (
	"context"
	"time"

	"github.com/pandadeploy/panda/delivery"
)

// Deliveries reads the deployments that finished in [since, until) of repo
// and environment ("" for all) from the log, in the shape package delivery
// computes its metrics on. Each is its deployment.finished entry (status,
// commit time, finish time) joined with its deployment.accepted entry (when
// it was accepted) when that is in the window too; a deployment accepted
// before since has its finish as its acceptance.
//
// The read is one pass over the window's entries, so its cost is bounded
// by the window, never by the whole retention.
func (l *Log) Deliveries(ctx context.Context, repo, environment string, since, until time.Time) ([]delivery.Deployment, error) {
	accepted := map[string]time.Time{}
	var out []delivery.Deployment
	err := l.Export(ctx, Query{Repo: repo, Environment: environment, Since: since}, func(e Entry) error {
		switch {
		case e.Action == DeploymentAccepted && e.DeploymentID != "":
			accepted[e.DeploymentID] = e.Time
		case e.Action == DeploymentFinished && e.Time.Before(until):
			out = append(out, delivery.Deployment{ID: e.DeploymentID, Repo: e.Repo, Environment: e.Environment,
				Trigger: e.Trigger, Commit: e.Commit, Status: e.Outcome, CommitTime: e.CommitTime,
				AcceptedAt: accepted[e.DeploymentID], FinishedAt: e.Time})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

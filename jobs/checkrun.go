package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/conversation"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// HandleCheckRun answers a press on one of Panda's check runs: "Re-run" (of a
// check run or of the whole check suite) and "Deploy again" redeploy the
// commit to the same environment, "Cancel" stops the running deployment, and
// "Roll back" redeploys the environment's previous successful image. The
// person who pressed must be allowed to deploy, as for /deploy. Check runs
// that are not Panda's (no deployment by their external id) are ignored; a
// press by anyone else is refused, and why is written on the deployment's
// controls run (GitHub offers no other place to answer a button).
func (h *GitHubHandler) HandleCheckRun(ctx context.Context, t *asynq.Task) error {
	var p tasks.CheckRunPayload
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	log := h.Logger.With("delivery_id", p.Delivery.ID, "installation_id", p.InstallationID, "repo", p.Repo, "sha", p.HeadSHA)
	if err := names.Repo(p.Repo); err != nil {
		log.Warn("check run request refused", "err", err)
		return fmt.Errorf("check run request refused: %v: %w", err, asynq.SkipRetry)
	}
	deps, err := h.requested(ctx, p)
	if err != nil || len(deps) == 0 {
		if err == nil {
			log.Info("no Panda deployment for the check run", "external_id", p.ExternalID, "check_suite_id", p.CheckSuiteID)
		}
		return err
	}
	gh, err := h.GitHub.Client(ctx, p.InstallationID)
	if err != nil {
		return fmt.Errorf("github client for installation %d: %w", p.InstallationID, err)
	}
	if p.Identifier == checks.ActionApprove || p.Identifier == checks.ActionReject {
		return h.pressApproval(ctx, gh, deps[0], p) // its own rule of who may answer
	}
	ok, err := conversation.MayDeploy(ctx, gh, p.Repo, p.Sender)
	if err != nil {
		return err
	}
	if !ok {
		log.Info("check run request refused: the sender may not deploy", "sender", p.Sender, "action", p.Action, "identifier", p.Identifier)
		h.refusePress(ctx, deps[0], fmt.Sprintf("@%s, only people with write access to %s can cancel, roll back or redeploy its deployments, so Panda did nothing.", p.Sender, p.Repo))
		return nil
	}
	claim := "checkrun:" + p.Delivery.TaskID()
	switch {
	case p.Action == "rerequested" || p.Identifier == checks.ActionRedeploy:
		for _, dep := range deps {
			if _, err := h.Deployer.Life.Redeploy(ctx, claim+":"+dep.Environment, dep, p.Sender); err != nil {
				return err
			}
		}
		return nil
	case p.Identifier == checks.ActionCancel:
		return h.Deployer.Cancel(ctx, deps[0], p.Sender)
	case p.Identifier == checks.ActionRollback:
		_, err := h.Deployer.Life.Rollback(ctx, claim, deps[0], p.Sender)
		if pipeline.IsPermanent(err) {
			log.Info("rollback refused", "deployment_id", deps[0].ID, "err", err)
			return nil
		}
		return err
	}
	log.Info("unknown check run action ignored", "action", p.Action, "identifier", p.Identifier)
	return nil
}

// requested finds the deployments a check run request is about: the one a
// check run's external id names, or for a check suite the newest deployment
// of its head commit to each environment. A deployment of another repository
// or installation is not Panda's answer to this request: external ids come
// from the payload, and a deployment id alone grants nothing.
func (h *GitHubHandler) requested(ctx context.Context, p tasks.CheckRunPayload) ([]*store.Deployment, error) {
	if p.ExternalID != "" {
		dep, err := h.Store.Get(ctx, p.ExternalID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(dep.Repo, p.Repo) || dep.InstallationID != p.InstallationID {
			return nil, nil
		}
		return []*store.Deployment{dep}, nil
	}
	if p.CheckSuiteID == 0 || names.SHA(p.HeadSHA) != nil {
		return nil, nil
	}
	list, err := h.Store.List(ctx, store.Filter{Repo: p.Repo, SHA: p.HeadSHA})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*store.Deployment
	for _, dep := range list { // newest first
		if !seen[dep.Environment] && dep.InstallationID == p.InstallationID {
			seen[dep.Environment] = true
			out = append(out, dep)
		}
	}
	return out, nil
}

// Cancel stops dep unless it has ended. Once an execution exists, Cancel
// records the request and the follow task stops the rollout: it rolls the
// ECS service deployment back if there is one, and ends the deployment
// CANCELED (releasing the environment) only once ECS confirms a terminal
// state. Before the execution exists the deployment is ended CANCELED here,
// which stops the clone, build or push in flight on whichever worker runs
// it (HandleBuild runs its stages under store.WhileRunning); a start task
// that finds the status final does nothing.
func (d *Deployer) Cancel(ctx context.Context, dep *store.Deployment, actor string) error {
	cur, err := d.Store.Get(ctx, dep.ID)
	if err != nil {
		return err
	}
	if cur.Status.Final() {
		return d.Life.EnsureEnded(ctx, cur)
	}
	msg := "Cancelled by " + actor
	d.event(ctx, cur, events.CancelRequested{Actor: actor})
	if cur.ExecutionARN != "" {
		// The follow task acts on the request at its next poll: it rolls
		// ECS back if the rollout changed the service, and ends the
		// deployment once ECS confirms (jobs/stop.go).
		_, err := d.Store.Update(ctx, cur.ID, func(x *store.Deployment) error {
			if x.StopRequest == "" {
				x.StopRequest = msg
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrFinal) {
			return fmt.Errorf("cancel %s: %w", cur.ID, err)
		}
		return nil
	}
	return d.Life.Finish(ctx, cur, store.StatusCanceled, currentStage(cur), msg, nil)
}

// currentStage is the first stage that has not finished.
func currentStage(dep *store.Deployment) pipeline.Stage {
	for _, s := range pipeline.Stages {
		if _, done := dep.StageDurations[string(s)]; !done {
			return s
		}
	}
	return pipeline.StageDeploy
}

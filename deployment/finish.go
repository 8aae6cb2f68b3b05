package deployment

import (
	"context"
	"errors"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// Finish writes dep's final status (once: a deployment already final is left
// alone), concludes its check runs, ends its event stream and frees its
// environment. stage is the stage that failed, or "" when none did. The
// message is the user-facing one.
func (d *Service) Finish(ctx context.Context, dep *store.Deployment, status store.Status, stage pipeline.Stage, msg string, annotations []checks.Annotation) error {
	updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		x.Status = status
		x.EndedAt = d.now()
		if x.StartedAt.IsZero() {
			x.StartedAt = x.EndedAt
		}
		if status != store.StatusSucceeded {
			x.Error, x.ErrorStage = msg, string(stage)
		}
		return nil
	})
	if errors.Is(err, store.ErrFinal) {
		d.Release(ctx, dep)
		return nil
	}
	if err != nil {
		return err
	}
	d.Logger.Info("deployment finished", "deployment_id", dep.ID, "repo", dep.Repo, "sha", dep.SHA, "status", status)
	if d.OnFinish != nil {
		d.OnFinish(updated)
	}
	d.audit(ctx, audit.ForDeployment(updated, audit.DeploymentFinished, string(status))) // [audit]
	// The final event is what ends every event stream, so it goes out first,
	// before the slower GitHub calls; unlike progress lines it must not be
	// lost. If it cannot be written the task fails, and its retry (which finds
	// the deployment final) writes it: see EnsureFinalEvent.
	if _, err := d.Store.Append(ctx, updated.ID, finalEvent(updated)); err != nil {
		return err
	}
	d.concludeChecks(ctx, updated, status, stage, msg, annotations)
	d.Release(ctx, updated)
	d.reportEnd(ctx, updated)
	return nil
}

// finalEvent is the done or error event of a finished deployment. Its
// details carry what the seed's clients read (SEED-API.md): totalDuration in
// milliseconds, blueServiceUrl and greenServiceUrl. [contract]
func finalEvent(dep *store.Deployment) store.Event {
	if dep.Status == store.StatusSucceeded {
		return store.Event{Type: store.EventDone, Stage: string(pipeline.StageDeploy), Message: "Deployment succeeded",
			Details: map[string]any{"status": string(dep.Status), "state": "succeeded", "imageUri": dep.ImageURI,
				"blueServiceUrl": dep.BlueURL, "greenServiceUrl": dep.GreenURL, "totalDuration": dep.Duration(dep.EndedAt).Milliseconds()}}
	}
	return store.Event{Type: store.EventError, Stage: dep.ErrorStage, Message: dep.Error,
		Details: map[string]any{"status": string(dep.Status), "state": "failed", "imageUri": dep.ImageURI,
			"blueServiceUrl": dep.BlueURL, "greenServiceUrl": dep.GreenURL, "totalDuration": dep.Duration(dep.EndedAt).Milliseconds()}}
}

// EnsureFinalEvent writes the final event of a finished deployment whose
// stream lacks it (the task that finished it failed to write it).
func (d *Service) EnsureFinalEvent(ctx context.Context, dep *store.Deployment) error {
	// The final event is among the last few: only the odd line of a task
	// that read the deployment just before it ended can follow it.
	has, err := d.Store.HasFinalEvent(ctx, dep.ID, 20)
	if err != nil || has {
		return err
	}
	d.Logger.Warn("final event was missing; writing it", "deployment_id", dep.ID, "status", dep.Status)
	_, err = d.Store.Append(ctx, dep.ID, finalEvent(dep))
	return err
}

// concludeChecks completes every stage's check run that is not complete yet:
// the first of them (the one that failed, or was running) with the conclusion
// the status calls for, the ones after it as skipped.
func (d *Service) concludeChecks(ctx context.Context, dep *store.Deployment, status store.Status, failed pipeline.Stage, msg string, annotations []checks.Annotation) {
	if status == store.StatusSucceeded {
		d.CheckErr(dep, "finish", d.Checks.Finish(ctx, dep, string(pipeline.StageDeploy), checks.ResultFor(dep, string(pipeline.StageDeploy))))
		return
	}
	var pending []string
	for _, s := range pipeline.Stages {
		if _, done := dep.StageDurations[string(s)]; !done || s == failed {
			pending = append(pending, string(s))
		}
	}
	if len(pending) == 0 {
		return
	}
	if status == store.StatusSuperseded {
		for _, s := range pending {
			d.CheckErr(dep, "finish", d.Checks.Finish(ctx, dep, s, checks.Result{Conclusion: "skipped", Title: msg}))
		}
		return
	}
	r := checks.ResultFor(dep, pending[0], annotations...)
	r.Conclusion = conclusion(status)
	d.CheckErr(dep, "finish", d.Checks.Finish(ctx, dep, pending[0], r))
	if len(pending) > 1 {
		d.CheckErr(dep, "skip", d.Checks.Skip(ctx, dep, pending[1:]...))
	}
}

func conclusion(s store.Status) string {
	switch s {
	case store.StatusCanceled:
		return "cancelled"
	case store.StatusTimeout:
		return "timed_out"
	case store.StatusSuperseded:
		return "skipped"
	}
	return "failure"
}

// Release frees dep's environment (its lock and its place in the line). A
// failure is logged: the lock's TTL frees it in the end.
func (d *Service) Release(ctx context.Context, dep *store.Deployment) {
	if err := d.Store.Release(ctx, store.EnvName(dep.Repo, dep.Environment), dep.ID); err != nil {
		d.Logger.Warn("release environment", "deployment_id", dep.ID, "err", err)
	}
	if err := d.Store.LeaveLine(ctx, dep); err != nil {
		d.Logger.Warn("leave line", "deployment_id", dep.ID, "err", err)
	}
}

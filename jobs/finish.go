package jobs

import (
	"context"
	"errors"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// finish writes dep's final status (once: a deployment already final is left
// alone), concludes its check runs, ends its event stream and frees its
// environment. stage is the stage that failed, or "" when none did. The
// message is the user-facing one.
func (d *Deployer) finish(ctx context.Context, dep *store.Deployment, status store.Status, stage pipeline.Stage, msg string, annotations []checks.Annotation) error {
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
		d.release(ctx, dep)
		return nil
	}
	if err != nil {
		return err
	}
	d.Logger.Info("deployment finished", "deployment_id", dep.ID, "repo", dep.Repo, "sha", dep.SHA, "status", status)
	if d.OnFinish != nil {
		d.OnFinish(updated)
	}
	// The final event is what ends every event stream, so it goes out first,
	// before the slower GitHub calls; unlike progress lines it must not be
	// lost. If it cannot be written the task fails, and its retry (which finds
	// the deployment final) writes it: see ensureFinalEvent.
	if _, err := d.Store.Append(ctx, updated.ID, finalEvent(updated)); err != nil {
		return err
	}
	d.concludeChecks(ctx, updated, status, stage, msg, annotations)
	d.release(ctx, updated)
	d.reportEnd(ctx, updated)
	return nil
}

// finalEvent is the done or error event of a finished deployment.
func finalEvent(dep *store.Deployment) store.Event {
	if dep.Status == store.StatusSucceeded {
		return store.Event{Type: store.EventDone, Stage: string(pipeline.StageDeploy), Message: "Deployment succeeded",
			Details: map[string]any{"status": string(dep.Status), "state": "succeeded", "imageUri": dep.ImageURI,
				"blueServiceUrl": dep.BlueURL, "greenServiceUrl": dep.GreenURL}}
	}
	return store.Event{Type: store.EventError, Stage: dep.ErrorStage, Message: dep.Error,
		Details: map[string]any{"status": string(dep.Status), "state": "failed", "imageUri": dep.ImageURI}}
}

// ensureFinalEvent writes the final event of a finished deployment whose
// stream lacks it (the task that finished it failed to write it).
func (d *Deployer) ensureFinalEvent(ctx context.Context, dep *store.Deployment) error {
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
func (d *Deployer) concludeChecks(ctx context.Context, dep *store.Deployment, status store.Status, failed pipeline.Stage, msg string, annotations []checks.Annotation) {
	if status == store.StatusSucceeded {
		d.checkErr(dep, "finish", d.Checks.Finish(ctx, dep, string(pipeline.StageDeploy), checks.ResultFor(dep, string(pipeline.StageDeploy))))
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
			d.checkErr(dep, "finish", d.Checks.Finish(ctx, dep, s, checks.Result{Conclusion: "skipped", Title: msg}))
		}
		return
	}
	r := checks.ResultFor(dep, pending[0], annotations...)
	r.Conclusion = conclusion(status)
	d.checkErr(dep, "finish", d.Checks.Finish(ctx, dep, pending[0], r))
	if len(pending) > 1 {
		d.checkErr(dep, "skip", d.Checks.Skip(ctx, dep, pending[1:]...))
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

package deployment

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// Finish writes dep's final status (once: a deployment already final is left
// alone), ends its event stream, frees its environment and tells GitHub:
// the check runs concluded, the GitHub Deployment's last status, the
// reaction on a /deploy comment. stage is the stage that failed, or "" when
// none did. The message is the user-facing one.
//
// What GitHub is told last must arrive, so it is recorded in the record's
// outbox in the same transaction as the final status, tried at once, and
// whatever GitHub did not accept is left to a report task that retries it.
// An error means the final event or the report task could not be queued:
// the caller's task fails, and its retry (which finds the deployment final)
// finishes the job through EnsureEnded.
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
		x.Outbox = outbox(x)
		x.FinalAnnotations = storeAnnotations(annotations)
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
	d.Audited(ctx, audit.ForDeployment(updated, audit.DeploymentFinished, string(status))) // [audit]
	// The final event is what ends every event stream, so it goes out first,
	// before the slower GitHub calls; unlike progress lines it must not be
	// lost. If it cannot be written the task fails, and its retry (which finds
	// the deployment final) writes it: see EnsureEnded.
	if _, err := d.Store.Append(ctx, updated.ID, finalEvent(updated)); err != nil {
		return err
	}
	d.Release(ctx, updated)
	return d.report(ctx, updated)
}

// outbox is what GitHub must be told of dep's end.
func outbox(dep *store.Deployment) []string {
	items := []string{store.ReportChecks}
	if dep.GitHubDeploymentID != 0 {
		items = append(items, store.ReportGitHubDeployment)
	}
	if dep.CommentID != 0 {
		items = append(items, store.ReportReaction)
	}
	return items
}

// report tries the outbox at once and leaves what GitHub did not accept to
// a report task.
func (d *Service) report(ctx context.Context, dep *store.Deployment) error {
	if err := d.Report(ctx, dep); err == nil {
		return nil
	} else {
		d.Logger.Warn("final GitHub updates not accepted yet; a report task retries them", "deployment_id", dep.ID, "err", err)
	}
	return d.enqueue(ctx, tasks.NewReportTask(dep.ID))
}

// Report sends each final update still in dep's outbox and removes it once
// GitHub accepted it. An update GitHub refuses for good (a 4xx that is not a
// rate limit) is logged and removed: sending it again cannot succeed. The
// error is the first update GitHub did not accept; the rest are still tried.
func (d *Service) Report(ctx context.Context, dep *store.Deployment) error {
	var first error
	for _, item := range dep.Outbox {
		err := d.send(ctx, dep, item)
		if err != nil && !checks.IsPermanent(err) {
			first = cmp.Or(first, fmt.Errorf("report %s of %s: %w", item, dep.ID, err))
			continue
		}
		if err != nil {
			d.Logger.Error("GitHub refused a final update; dropped", "deployment_id", dep.ID, "item", item, "err", err)
		}
		if _, err := d.Store.Reported(ctx, dep.ID, item); err != nil {
			first = cmp.Or(first, err)
		}
	}
	return first
}

func (d *Service) send(ctx context.Context, dep *store.Deployment, item string) error {
	switch item {
	case store.ReportChecks:
		return d.concludeChecks(ctx, dep)
	case store.ReportGitHubDeployment:
		state, desc := endState(dep)
		return d.deploymentStatus(ctx, dep, state, desc)
	case store.ReportReaction:
		return d.react(ctx, dep)
	}
	d.Logger.Warn("unknown outbox item dropped", "deployment_id", dep.ID, "item", item)
	return nil
}

func storeAnnotations(as []checks.Annotation) []store.Annotation {
	var out []store.Annotation
	for _, a := range as {
		out = append(out, store.Annotation{Path: a.Path, Line: a.Line, Message: a.Message, Level: a.Level})
	}
	return out
}

func checkAnnotations(as []store.Annotation) []checks.Annotation {
	var out []checks.Annotation
	for _, a := range as {
		out = append(out, checks.Annotation{Path: a.Path, Line: a.Line, Message: a.Message, Level: a.Level})
	}
	return out
}

// finalEvent is the done or error event of a finished deployment.
func finalEvent(dep *store.Deployment) store.Event {
	return events.EndedOf(dep).Event()
}

// EnsureEnded finishes what Finish may have left undone for a final
// deployment when its task died or failed after writing the status: the
// final event when the stream lacks it, and the report task when the outbox
// still holds updates. Every task that finds its deployment final calls it.
func (d *Service) EnsureEnded(ctx context.Context, dep *store.Deployment) error {
	// The final event is among the last few: only the odd line of a task
	// that read the deployment just before it ended can follow it.
	has, err := d.Store.HasFinalEvent(ctx, dep.ID, 20)
	if err != nil {
		return err
	}
	if !has {
		d.Logger.Warn("final event was missing; writing it", "deployment_id", dep.ID, "status", dep.Status)
		if _, err := d.Store.Append(ctx, dep.ID, finalEvent(dep)); err != nil {
			return err
		}
	}
	if len(dep.Outbox) == 0 {
		return nil
	}
	return d.enqueue(ctx, tasks.NewReportTask(dep.ID))
}

// concludeChecks completes every stage's check run that is not complete yet:
// the first of them (the one that failed, or was running) with the conclusion
// the status calls for, the ones after it as skipped.
func (d *Service) concludeChecks(ctx context.Context, dep *store.Deployment) error {
	if dep.Status == store.StatusSucceeded {
		return d.Checks.Finish(ctx, dep, string(pipeline.StageDeploy), checks.ResultFor(dep, string(pipeline.StageDeploy)))
	}
	failed := pipeline.Stage(dep.ErrorStage)
	var pending []string
	for _, s := range pipeline.Stages {
		if _, done := dep.StageDurations[string(s)]; !done || s == failed {
			pending = append(pending, string(s))
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if dep.Status == store.StatusSuperseded {
		for _, s := range pending {
			if err := d.Checks.Finish(ctx, dep, s, checks.Result{Conclusion: "skipped", Title: dep.Error}); err != nil {
				return err
			}
		}
		return nil
	}
	r := checks.ResultFor(dep, pending[0], checkAnnotations(dep.FinalAnnotations)...)
	r.Conclusion = conclusion(dep.Status)
	if err := d.Checks.Finish(ctx, dep, pending[0], r); err != nil {
		return err
	}
	if len(pending) > 1 {
		return d.Checks.Skip(ctx, dep, pending[1:]...)
	}
	return nil
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

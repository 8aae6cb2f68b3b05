package jobs

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/freeze"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// The gates hold a deployment without sleeping in a handler: a freeze
// re-enqueues the build task for when the freeze ends (the deployment stays
// QUEUED), and the scan gate re-enqueues the start task until ECR's scan of
// the pushed image is read (the push check run stays in progress).

// scanTimeout bounds the wait for ECR's scan, counted from the push's start;
// the push check run says when Panda gives up. Basic scans take minutes.
const scanTimeout = 30 * time.Minute

// scanTableBytes is the findings table's share of the push check run's
// 65,535-byte summary; the rest of the summary is far smaller.
const scanTableBytes = 40_000

// freezeGate holds dep while a freeze window of its environment is in
// effect: it re-enqueues the build task for the freeze's end and reports
// true, or ends dep FAILED under freeze_policy refuse. A deployment forced
// by a repository admin passes, recorded. Rollbacks pass too: restoring the
// last good image is what a freeze must never prevent.
func (d *Deployer) freezeGate(ctx context.Context, dep *store.Deployment, step int) (held bool, err error) {
	if len(dep.Target.Freeze) == 0 || dep.Status != store.StatusQueued || dep.Trigger == deployment.TriggerRollback {
		return false, nil
	}
	rules := make([]freeze.Rule, 0, len(dep.Target.Freeze))
	for _, w := range dep.Target.Freeze {
		r, err := freeze.Compile(w)
		if err != nil { // repoconfig compiled it already; a record from elsewhere
			return false, d.stageFailed(ctx, dep, pipeline.StageClone, pipeline.UserError(err, "a freeze window of %s is invalid: %v", dep.Environment, err))
		}
		rules = append(rules, r)
	}
	now := d.now()
	f, active := freeze.Active(rules, now)
	if !active {
		return false, nil
	}
	msg := frozenMessage(dep, f)
	if dep.ForcedBy != "" {
		d.forced(ctx, dep, msg)
		return false, nil
	}
	if dep.Target.FreezePolicy == repoconfig.FreezeRefuse {
		msg += ". The environment's freeze_policy is refuse, so this deployment was refused: deploy again after the freeze, or ask a repository admin for `/deploy --force`."
		if err := d.Life.Finish(ctx, dep, store.StatusFailed, pipeline.StageClone, msg, nil); err != nil {
			return true, err
		}
		return true, errEnded
	}
	d.event(ctx, dep, events.Frozen{Freeze: msg, Until: f.Until.UTC(), Reason: f.Reason})
	title := "Frozen until " + f.Until.UTC().Format("Mon 2 Jan 15:04 MST")
	summary := "### ❄️ " + msg + "\n\nThis deployment stays queued and starts by itself when the freeze ends. A repository admin can deploy now with `/deploy --force`.\n"
	d.checkErr(dep, "hold", d.Checks.Hold(ctx, dep, title, summary))
	// A millisecond past the end, so the retry finds the window closed.
	return true, d.enqueue(ctx, tasks.NewHeldBuildTask(dep.ID, d.Life.BuildLimit(), step+1, f.Until.Sub(now)+time.Millisecond))
}

func frozenMessage(dep *store.Deployment, f freeze.Freeze) string {
	msg := fmt.Sprintf("%s is frozen until %s", dep.Environment, f.Until.UTC().Format(time.RFC3339))
	if f.Reason != "" {
		msg += " (" + f.Reason + ")"
	}
	return msg
}

// forced records that an admin's --force broke a freeze: a log line with
// the actor, an event on the deployment and an entry in the audit log.
func (d *Deployer) forced(ctx context.Context, dep *store.Deployment, frozen string) {
	d.Logger.Warn("freeze broken with /deploy --force", "actor", dep.ForcedBy, "deployment_id", dep.ID, "repo", dep.Repo, "sha", dep.SHA, "freeze", frozen)
	d.event(ctx, dep, events.Forced{Actor: dep.ForcedBy, Freeze: frozen})
	e := audit.ForDeployment(dep, audit.FreezeForced, "accepted")
	e.Actor, e.Reason = dep.ForcedBy, frozen
	d.Life.Audited(ctx, e)
}

// scanGated reports whether dep's push stage waits for the scan gate, which
// then concludes the push check run (see scanGate).
func scanGated(dep *store.Deployment, stage pipeline.Stage) bool {
	return stage == pipeline.StagePush && dep.Target.Scan != nil && !eventBridge(dep)
}

// scanGate reads ECR's scan of dep's pushed image once. While the scan is
// not finished it re-enqueues the start task and reports true; a finished
// scan concludes the push check run with its findings, and ends dep FAILED
// when findings reach the threshold (or the scan cannot be had).
func (d *Deployer) scanGate(ctx context.Context, dep *store.Deployment, step int) (held bool, err error) {
	if !scanGated(dep, pipeline.StagePush) || stageDone(dep, pipeline.StagePush) || dep.ImageURI == "" {
		return false, nil
	}
	pusher, err := d.AWS.Pusher(ctx, dep)
	if err != nil {
		return true, d.stageFailed(ctx, dep, pipeline.StagePush, err)
	}
	repo, digest, _ := strings.Cut(dep.ImageURI[strings.Index(dep.ImageURI, "/")+1:], "@")
	rep, err := pusher.Scan(ctx, repo, digest)
	if err != nil {
		return true, d.stageFailed(ctx, dep, pipeline.StagePush, err)
	}
	since := cmp.Or(dep.ScanSince, d.now())
	switch rep.State {
	case image.ScanPending:
		giveUp := since.Add(scanTimeout)
		if d.now().After(giveUp) {
			return true, d.stageFailed(ctx, dep, pipeline.StagePush, pipeline.UserError(nil,
				"ECR's scan of %s did not finish within %s (status %s), so the scan gate blocked the rollout", digest, scanTimeout, cmp.Or(rep.Status, "no scan yet: is scan on push enabled?")))
		}
		if step == 0 {
			ev := events.ScanWaiting{Digest: digest, GivesUpAt: giveUp}
			d.event(ctx, dep, ev)
			d.checkErr(dep, "log", d.Checks.Log(ctx, dep, string(pipeline.StagePush), ev.Event().Message))
		}
		return true, d.enqueue(ctx, tasks.NewStartTask(dep.ID, step+1, d.waitInterval()))
	case image.ScanUnusable:
		return true, d.stageFailed(ctx, dep, pipeline.StagePush, pipeline.UserError(nil,
			"ECR could not scan the image (%s: %s), so the scan gate blocked the rollout: remove scan from .panda.yml to deploy images ECR cannot scan", rep.Status, rep.Description))
	}
	return d.scanned(ctx, dep, rep, since)
}

// scanned records a finished scan's findings and concludes the push stage.
func (d *Deployer) scanned(ctx context.Context, dep *store.Deployment, rep image.ScanReport, since time.Time) (bool, error) {
	policy := image.ScanPolicy{FailOn: dep.Target.Scan.FailOn, Ignore: dep.Target.Scan.Ignore}
	blocking := policy.Blocking(rep.Findings)
	scanned := events.Scanned{Findings: len(rep.Findings), Blocking: len(blocking), FailOn: policy.FailOn}
	head := scanned.Event().Message + "\n\n"
	updated, err := d.Store.Update(ctx, dep.ID, func(x *store.Deployment) error {
		x.ScanReport = head + image.FindingsTable(rep.Findings, policy, scanTableBytes)
		if x.StageDurations == nil {
			x.StageDurations = map[string]time.Duration{}
		}
		x.StageDurations[string(pipeline.StagePush)] = d.now().Sub(since)
		return nil
	})
	if err != nil {
		return true, err
	}
	*dep = *updated
	if len(blocking) > 0 {
		ids := make([]string, 0, 3)
		for _, f := range blocking[:min(3, len(blocking))] {
			ids = append(ids, f.ID)
		}
		msg := fmt.Sprintf("ECR's scan found %d vulnerabilities at or above %s (%s), so the rollout is blocked: update the affected packages, or list accepted ids under scan.ignore in .panda.yml",
			len(blocking), policy.FailOn, strings.Join(ids, ", "))
		var notes []checks.Annotation
		for _, f := range blocking[:min(10, len(blocking))] {
			notes = append(notes, checks.Annotation{Path: cmp.Or(dep.Target.Dockerfile, "Dockerfile"), Line: 1, Level: "failure",
				Message: fmt.Sprintf("%s %s in %s %s (fixed in %s)", f.Severity, f.ID, f.Package, f.Installed, cmp.Or(f.Fixed, "no fixed version named"))})
		}
		if err := d.Life.Finish(ctx, dep, store.StatusFailed, pipeline.StagePush, msg, notes); err != nil {
			return true, err
		}
		return true, errEnded
	}
	d.event(ctx, dep, scanned)
	d.checkErr(dep, "finish", d.Checks.Finish(ctx, dep, string(pipeline.StagePush), checks.ResultFor(dep, string(pipeline.StagePush))))
	return false, nil
}

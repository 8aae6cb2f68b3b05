package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/ghtext"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// The controls run. GitHub shows a check run's buttons only once the run is
// completed ("The button created in this object is displayed after the check
// run completes", REST reference, check runs, actions), so a Cancel on a
// running stage's run is never seen. Each deployment therefore gets one more
// run, "panda", created completed (neutral: it passes, and says nothing of
// the deployment's outcome) with the deployment's controls as its buttons:
// Cancel while the deployment runs, then the deploy run's final buttons. It
// costs one create when the deployment is accepted and one update when it
// ends; presses by people who may not deploy are answered in its text.
const (
	// ControlsName is the name of the controls run.
	ControlsName = "panda"
	// ControlsKey is the controls run's key in a record's CheckRuns, beside
	// the stages' names.
	ControlsKey = "controls"
)

// createControls creates d's controls run, completed, with Cancel.
func (r *Reporter) createControls(ctx context.Context, api API, owner, repo string, d *store.Deployment, ids map[string]int64) error {
	opts := github.CreateCheckRunOptions{
		Name:        ControlsName,
		HeadSHA:     d.SHA,
		DetailsURL:  r.detailsURL(d),
		ExternalID:  github.String(d.ID),
		Status:      github.String("completed"),
		Conclusion:  github.String(ConclusionNeutral),
		CompletedAt: &github.Timestamp{Time: r.now()},
		Output:      output(controlsTitle(d), controlsSummary(d), ""),
		Actions:     []*github.CheckRunAction{cancelAction()},
	}
	r.fitOutput(opts.Output)
	cr, _, err := api.CreateCheckRun(ctx, owner, repo, opts)
	if err != nil && !IsPermanent(err) && r.findRuns(ctx, api, owner, repo, d, ControlsName, ids) == nil && ids[ControlsKey] != 0 {
		return nil // created behind the error
	}
	if err != nil {
		return fmt.Errorf("create check run %s of %s: %w", ControlsName, d.ID, err)
	}
	ids[ControlsKey] = cr.GetID()
	return nil
}

// controlsEnded shows on the controls run that d has ended, and swaps Cancel
// for the deploy run's final buttons (go-github cannot send an empty list of
// actions, so a button can only be replaced). A deployment without a
// controls run (accepted before there were any) is left alone.
func (r *Reporter) controlsEnded(ctx context.Context, d *store.Deployment, deployConclusion string) error {
	if d.CheckRuns[ControlsKey] == 0 {
		return nil
	}
	return r.locked(d, ControlsKey, func(*runState) error {
		return r.updateRun(ctx, d, ControlsKey, ControlsName, github.UpdateCheckRunOptions{
			Output:  output(controlsTitle(d), controlsSummary(d), ""),
			Actions: finalActions(string(pipeline.StageDeploy), deployConclusion),
		})
	})
}

// Refuse answers a press on one of d's check runs that Panda refused: the
// person who pressed reads why in the controls run's text, the part of the
// run GitHub shows under its summary. It needs d's controls run; without one
// it returns ErrNoCheckRun.
func (r *Reporter) Refuse(ctx context.Context, d *store.Deployment, why string) error {
	return r.locked(d, ControlsKey, func(*runState) error {
		text := fmt.Sprintf("**Not done:** %s\n\n_%s_", why, r.now().UTC().Format(time.RFC1123))
		return r.updateRun(ctx, d, ControlsKey, ControlsName, github.UpdateCheckRunOptions{
			Output: output(controlsTitle(d), controlsSummary(d), text),
		})
	})
}

func controlsTitle(d *store.Deployment) string {
	if d.Status.Final() {
		return ghtext.Head(fmt.Sprintf("%s of %s to %s ended: %s", d.ID, names.ShortSHA(d.SHA), d.Environment, d.Status), maxTitleBytes)
	}
	return ghtext.Head(fmt.Sprintf("Deploying %s to %s: Cancel stops it", names.ShortSHA(d.SHA), d.Environment), maxTitleBytes)
}

func controlsSummary(d *store.Deployment) string {
	var b strings.Builder
	if d.Status.Final() {
		fmt.Fprintf(&b, "### Ended: %s\n\n", d.Status)
		if d.Error != "" {
			b.WriteString(fenced(shorten(d.Error, 4000), "text") + "\n\n")
		}
		b.WriteString("The stage check runs say how each stage ended.\n\n")
	} else {
		b.WriteString("### 🎛️ Controls of this deployment\n\n")
		b.WriteString("GitHub shows buttons only on completed check runs, so this one carries the deployment's controls while its stages run. " +
			"**Cancel** stops the deployment at the stage it has reached: a clone, build or push in progress is stopped and nothing is deployed. " +
			"On a pull request, commenting `/deploy cancel` does the same. Only people with write access to the repository can cancel.\n\n")
	}
	details(&b, d)
	return ghtext.Head(b.String(), maxOutputBytes)
}

package checks

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pandadeploy/panda/ghtext"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// phase is where one stage stands, which decides its headline.
type phase int

const (
	phaseQueued phase = iota
	phaseRunning
	phaseDone
	phaseFailed
	phaseSkipped
)

// verbs name what a stage does: the noun, the running and the finished form.
var verbs = map[string][3]string{
	"clone":  {"Clone", "Cloning", "Cloned"},
	"build":  {"Build", "Building", "Built"},
	"push":   {"Push", "Pushing", "Pushed"},
	"deploy": {"Deploy", "Deploying", "Deployed"},
}

// phaseOf infers where stage stands from the record alone.
func phaseOf(d *store.Deployment, stage string) phase {
	_, finished := d.StageDurations[stage]
	switch {
	case d.ErrorStage == stage:
		return phaseFailed
	case finished:
		return phaseDone
	case d.Status.Final():
		return phaseSkipped
	case d.Status == store.StatusRunning && firstUnfinished(d) == stage:
		return phaseRunning // only the stage under way; the ones after it wait
	}
	return phaseQueued
}

// firstUnfinished is the first stage of d without a duration, or "".
func firstUnfinished(d *store.Deployment) string {
	for _, s := range pipeline.Stages {
		if _, ok := d.StageDurations[string(s)]; !ok {
			return string(s)
		}
	}
	return ""
}

// SummaryFor renders the markdown summary of stage's check run from the
// record as it stands: a headline for the stage (with the error when d.ErrorStage
// is stage), then what is deployed where, the stages with their durations, and
// what the deployment produced (image, Step Functions execution, URLs).
// Callers record StageDurations, ErrorStage and Error before rendering.
func SummaryFor(d *store.Deployment, stage string) string {
	return summary(d, stage, phaseOf(d, stage), "")
}

// ResultFor builds the Result that Finish sends for stage: failure (or
// timed_out, cancelled by d.Status) when d.ErrorStage is stage, else success,
// with a matching title and summary and the given annotations.
func ResultFor(d *store.Deployment, stage string, annotations ...Annotation) Result {
	p, conclusion := phaseDone, ConclusionSuccess
	if d.ErrorStage == stage {
		p, conclusion = phaseFailed, failedConclusion(d.Status)
	}
	return Result{
		Conclusion:  conclusion,
		Title:       title(d, stage, p, conclusion),
		Summary:     summary(d, stage, p, conclusion),
		Annotations: annotations,
	}
}

// failedConclusion maps a deployment's final status to the conclusion of the
// stage that ended it.
func failedConclusion(s store.Status) string {
	switch s {
	case store.StatusTimeout:
		return ConclusionTimedOut
	case store.StatusCanceled, store.StatusSuperseded:
		return ConclusionCancelled
	}
	return ConclusionFailure
}

// title is the output.title of stage in phase p. conclusion refines a failed
// phase; it may be empty.
func title(d *store.Deployment, stage string, p phase, conclusion string) string {
	v := verbs[stage]
	switch p {
	case phaseQueued:
		return "Queued: deploy to " + d.Environment
	case phaseRunning:
		return runningTitle(d, stage)
	case phaseDone:
		return doneTitle(d, stage)
	case phaseSkipped:
		return "Skipped: " + skipReason(d)
	}
	switch conclusion {
	case ConclusionTimedOut:
		return v[0] + " timed out"
	case ConclusionCancelled:
		return v[0] + " cancelled"
	}
	msg := firstLine(d.Error)
	switch {
	case msg == "":
		return v[0] + " failed"
	case strings.HasPrefix(strings.ToLower(msg), strings.ToLower(v[0])+" failed"):
		// The message already says so ("build failed at Dockerfile line 3…").
		return shorten(v[0]+msg[len(v[0]):], 120)
	}
	return shorten(v[0]+" failed: "+msg, 120)
}

func runningTitle(d *store.Deployment, stage string) string {
	switch stage {
	case "clone":
		return "Cloning " + d.Repo + "@" + names.ShortSHA(d.SHA)
	case "deploy":
		return "Deploying to " + d.Environment
	}
	return verbs[stage][1] + " the image"
}

func doneTitle(d *store.Deployment, stage string) string {
	switch stage {
	case "clone":
		return "Cloned " + d.Repo + "@" + names.ShortSHA(d.SHA)
	case "deploy":
		return "Deployed to " + d.Environment
	}
	return verbs[stage][2] + " the image"
}

// skipReason says why the stages after a failure did not run.
func skipReason(d *store.Deployment) string {
	switch {
	case d.ErrorStage != "":
		return d.ErrorStage + " failed"
	case d.Status == store.StatusTimeout:
		return "the deployment timed out"
	case d.Status == store.StatusSuperseded:
		return "a newer deployment superseded this one"
	case d.Status == store.StatusCanceled && d.Error != "":
		return shorten(firstLine(d.Error), 100)
	case d.Status == store.StatusCanceled:
		return "the deployment was cancelled"
	case d.Error != "":
		return shorten(firstLine(d.Error), 100)
	}
	return "not needed"
}

// summary renders the markdown summary of stage in phase p.
func summary(d *store.Deployment, stage string, p phase, conclusion string) string {
	var b strings.Builder
	headline(&b, d, stage, p, conclusion)
	details(&b, d)
	stageTable(&b, d, stage, p, conclusion)
	artifacts(&b, d)
	if stage == "push" && d.ScanReport != "" {
		// Already cut to fit beside the rest (see jobs' scan gate).
		b.WriteString("\n#### Image scan\n\n" + d.ScanReport)
	}
	return ghtext.Head(b.String(), maxOutputBytes)
}

func headline(b *strings.Builder, d *store.Deployment, stage string, p phase, conclusion string) {
	v := verbs[stage]
	switch p {
	case phaseQueued:
		fmt.Fprintf(b, "### ⏸️ Queued\n\n%s starts when the stages before it are done.\n\n", v[0])
	case phaseRunning:
		fmt.Fprintf(b, "### ⏳ %s…\n\n", v[1])
	case phaseDone:
		what := v[2]
		if stage == "deploy" {
			what += " to " + code(d.Environment)
		}
		fmt.Fprintf(b, "### ✅ %s%s\n\n", what, inDuration(d, stage))
	case phaseSkipped:
		fmt.Fprintf(b, "### ⏭️ Skipped: %s\n\n", skipReason(d))
	case phaseFailed:
		icon, what := "❌", "failed"
		switch conclusion {
		case ConclusionTimedOut:
			icon, what = "⏱️", "timed out"
		case ConclusionCancelled:
			icon, what = "🚫", "cancelled"
		}
		fmt.Fprintf(b, "### %s %s %s%s\n\n", icon, v[0], what, afterDuration(d, stage))
		if d.Error != "" {
			b.WriteString(fenced(shorten(d.Error, 4000), "text") + "\n\n")
		}
	}
}

// waitingSummary is the summary of every check run of a deployment waiting
// for its environment.
func waitingSummary(d *store.Deployment, behind string, position int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### ⏸️ Queued behind %s (position %d)\n\n", code(behind), position)
	fmt.Fprintf(&b, "Another deployment to %s is running. This one starts when the deployments ahead of it are done.\n\n", code(d.Environment))
	details(&b, d)
	stageTable(&b, d, "", phaseQueued, "")
	return b.String()
}

func details(b *strings.Builder, d *store.Deployment) {
	fmt.Fprintf(b, "- **Repository:** %s\n", code(d.Repo))
	fmt.Fprintf(b, "- **Commit:** %s", code(names.ShortSHA(d.SHA)))
	if d.Branch != "" {
		fmt.Fprintf(b, " on %s", code(d.Branch))
	}
	fmt.Fprintf(b, "\n- **Environment:** %s\n", code(d.Environment))
	if d.Trigger != "" {
		fmt.Fprintf(b, "- **Triggered by:** %s", d.Trigger)
		if d.Actor != "" {
			fmt.Fprintf(b, " from %s", code(d.Actor))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "- **Deployment:** %s\n\n", code(d.ID))
}

// stageTable lists every stage with its state; stage in phase p (ending with
// conclusion) is the one being reported, the others are inferred from the record.
func stageTable(b *strings.Builder, d *store.Deployment, stage string, p phase, conclusion string) {
	b.WriteString("| Stage | State | Duration |\n| --- | --- | --- |\n")
	for _, st := range pipeline.Stages {
		s := string(st)
		sp, c := phaseOf(d, s), failedConclusion(d.Status)
		if s == stage {
			sp, c = p, conclusion
		}
		dur := "—"
		if t, ok := d.StageDurations[s]; ok {
			dur = formatDuration(t)
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", s, stateLabel(sp, c), dur)
	}
	b.WriteString("\n")
}

func stateLabel(p phase, conclusion string) string {
	if p == phaseFailed {
		switch conclusion {
		case ConclusionTimedOut:
			return "⏱️ timed out"
		case ConclusionCancelled:
			return "🚫 cancelled"
		}
	}
	return [...]string{"⏸️ queued", "⏳ running", "✅ done", "❌ failed", "⏭️ skipped"}[p]
}

func artifacts(b *strings.Builder, d *store.Deployment) {
	if d.ImageURI != "" {
		fmt.Fprintf(b, "- **Image:** %s\n", code(d.ImageURI))
	}
	if d.ExecutionARN != "" {
		fmt.Fprintf(b, "- **Step Functions execution:** %s", code(d.ExecutionARN))
		if link := ConsoleURL(d.ExecutionARN); link != "" {
			fmt.Fprintf(b, " ([AWS console](%s))", link)
		}
		b.WriteString("\n")
	}
	if d.BlueURL != "" {
		fmt.Fprintf(b, "- **Blue:** %s\n", link(d.BlueURL))
	}
	if d.GreenURL != "" {
		fmt.Fprintf(b, "- **Green:** %s\n", link(d.GreenURL))
	}
}

// ConsoleURL returns the AWS console page of a Step Functions execution, or ""
// when arn is not an execution ARN (names.ExecutionARN) in the commercial
// partition, the only one whose console host is region.console.aws.amazon.com.
// names.ExecutionARN keeps the region (the link's host) and the names (the
// link's fragment) to characters that cannot break out of the URL or the
// markdown around it.
func ConsoleURL(arn string) string {
	a, err := names.ExecutionARN(arn)
	if err != nil || a.Partition != "aws" {
		return ""
	}
	return "https://" + a.Region + ".console.aws.amazon.com/states/home?region=" + a.Region +
		"#/v2/executions/details/" + arn
}

// link renders an http(s) URL as a markdown autolink and anything else as
// code, so a URL from an execution's output cannot become a javascript: link.
func link(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(raw, "<> \n") {
		return code(raw)
	}
	return "<" + raw + ">"
}

// code renders s as inline code, whatever backticks it holds.
func code(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

func inDuration(d *store.Deployment, stage string) string {
	if t, ok := d.StageDurations[stage]; ok {
		return " in " + formatDuration(t)
	}
	return ""
}

func afterDuration(d *store.Deployment, stage string) string {
	if t, ok := d.StageDurations[stage]; ok {
		return " after " + formatDuration(t)
	}
	return ""
}

// formatDuration rounds to what a person reads: tenths below a minute,
// seconds above.
func formatDuration(t time.Duration) string {
	if t < time.Minute {
		return t.Round(100 * time.Millisecond).String()
	}
	return t.Round(time.Second).String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// Package delivery computes the four delivery metrics (DORA's "four keys")
// of a repository's environments from the history of its deployments:
// deployment frequency, lead time for changes, change failure rate and time
// to restore. It is pure: callers read the history (package audit does, from
// the audit log) and pass it in, so the definitions below are tested on
// scripted histories with known answers.
//
// Definitions, per repository and environment, over the deployments that
// finished within [Since, Until):
//
//   - A change is a deployment that is not a rollback and that ended
//     SUCCEEDED, FAILED or TIMEOUT. CANCELED and SUPERSEDED deployments are
//     not changes: someone chose to stop them, or a newer one replaced them
//     before they started, so they say nothing of the software's quality.
//     A rollback restores an earlier image: it is not a change either.
//   - Deployment frequency is the number of successful changes (those later
//     rolled back included: they were deployed), per day and per week of the
//     window.
//   - Lead time is, for each commit whose first successful change in the
//     window has a known commit time, the time from that commit time (the
//     committer date) to the end of that deployment. A commit deployed again
//     counts once. A negative lead time (a committer date in the future: git
//     takes it from the committer's clock) is left out rather than clamped.
//   - A change failed if it ended FAILED or TIMEOUT, or if it succeeded and a
//     rollback of the environment was accepted within RollbackWindow after it
//     ended and before the next successful change ended (the rollback undid
//     it, whatever the rollback's own outcome). The change failure rate is
//     failed changes over changes.
//   - Time to restore runs from the end of a failed change, when no earlier
//     failure is still open, to the end of the next successful deployment of
//     the environment (a rollback included) that did not itself fail. Failures
//     still open at the end of the window are counted as Unrestored.
package delivery

import (
	"cmp"
	"slices"
	"time"
)

// Final statuses, as package store spells them (repeated here so that this
// package needs nothing but the standard library).
const (
	Succeeded = "SUCCEEDED"
	Failed    = "FAILED"
	TimedOut  = "TIMEOUT"
)

// TriggerRollback is the trigger of a rollback deployment.
const TriggerRollback = "rollback"

// DefaultRollbackWindow is how long after a success a rollback still marks
// it failed, when Window.RollbackWindow is zero.
const DefaultRollbackWindow = 24 * time.Hour

// Deployment is one finished deployment.
type Deployment struct {
	ID          string
	Repo        string // owner/name
	Environment string
	Trigger     string // push, comment, rerun, rollback, api
	Commit      string
	// Status is the final status.
	Status string
	// CommitTime is the commit's committer date; zero when it is unknown
	// (deployments recorded before it was).
	CommitTime time.Time
	// AcceptedAt is when the deployment was accepted; if zero, FinishedAt.
	AcceptedAt time.Time
	// FinishedAt is when it reached its final status.
	FinishedAt time.Time
}

// Window selects what Compute counts.
type Window struct {
	// Since and Until bound the deployments' FinishedAt: [Since, Until).
	Since, Until time.Time
	// RollbackWindow is how long after a success a rollback marks it failed.
	// If zero, DefaultRollbackWindow.
	RollbackWindow time.Duration
}

// Durations summarises a sample of durations. Median and Mean are zero
// when Count is.
type Durations struct {
	Count  int
	Median time.Duration
	Mean   time.Duration
}

// Report holds the metrics of one repository's environment.
type Report struct {
	Repo, Environment string
	// Deployments is the number of successful changes, rolled back or not.
	Deployments int
	// PerDay and PerWeek are Deployments over the window's length.
	PerDay, PerWeek float64
	LeadTime        Durations
	// Changes and FailedChanges count changes and failed changes;
	// ChangeFailureRate is their ratio (0 when there were no changes).
	Changes, FailedChanges int
	ChangeFailureRate      float64
	TimeToRestore          Durations
	// Unrestored counts failures not followed by a success within the window.
	Unrestored int
	// Days are the window's UTC days, from the day of Since to the day
	// before Until (or of it, if Until is not a midnight), each with its
	// successful and failed changes: the series a chart draws.
	Days []Day
}

// Day is one UTC day of a Report.
type Day struct {
	Date                  time.Time // midnight UTC
	Deployments, Failures int
}

type key struct{ repo, env string }

// Compute returns one Report per repository and environment that has a
// deployment finished in w, sorted by repository then environment. The order
// of deps does not matter.
func Compute(deps []Deployment, w Window) []Report {
	if w.RollbackWindow <= 0 {
		w.RollbackWindow = DefaultRollbackWindow
	}
	groups := map[key][]Deployment{}
	for _, d := range deps {
		if d.FinishedAt.Before(w.Since) || !d.FinishedAt.Before(w.Until) {
			continue
		}
		k := key{d.Repo, d.Environment}
		groups[k] = append(groups[k], d)
	}
	out := make([]Report, 0, len(groups))
	for k, g := range groups {
		slices.SortStableFunc(g, func(a, b Deployment) int { return a.FinishedAt.Compare(b.FinishedAt) })
		out = append(out, compute(k, g, w))
	}
	slices.SortFunc(out, func(a, b Report) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Environment, b.Environment))
	})
	return out
}

// compute is one environment's report; g is sorted by FinishedAt.
func compute(k key, g []Deployment, w Window) Report {
	r := Report{Repo: k.repo, Environment: k.env}
	failed := failedChanges(g, w.RollbackWindow)
	var leads, restores []time.Duration
	seen := map[string]bool{}
	var openSince time.Time // start of the failure not yet restored
	for i, d := range g {
		if isChange(d) {
			r.Changes++
		}
		if isChange(d) && d.Status == Succeeded {
			r.Deployments++
			if !seen[d.Commit] {
				seen[d.Commit] = true
				if lead := d.FinishedAt.Sub(d.CommitTime); !d.CommitTime.IsZero() && lead >= 0 {
					leads = append(leads, lead)
				}
			}
		}
		switch {
		case failed[i]:
			r.FailedChanges++
			if openSince.IsZero() {
				openSince = d.FinishedAt
			}
		case d.Status == Succeeded && !openSince.IsZero():
			restores = append(restores, d.FinishedAt.Sub(openSince))
			openSince = time.Time{}
		}
	}
	if !openSince.IsZero() {
		r.Unrestored = 1
	}
	if days := w.Until.Sub(w.Since).Hours() / 24; days > 0 {
		r.PerDay = float64(r.Deployments) / days
		r.PerWeek = r.PerDay * 7
	}
	if r.Changes > 0 {
		r.ChangeFailureRate = float64(r.FailedChanges) / float64(r.Changes)
	}
	r.LeadTime, r.TimeToRestore = summarise(leads), summarise(restores)
	r.Days = days(g, failed, w)
	return r
}

// days counts g's successful and failed changes by UTC day of w.
func days(g []Deployment, failed []bool, w Window) []Day {
	first := w.Since.UTC().Truncate(24 * time.Hour)
	var out []Day
	for d := first; d.Before(w.Until); d = d.Add(24 * time.Hour) {
		out = append(out, Day{Date: d})
	}
	for i, d := range g {
		n := int(d.FinishedAt.Sub(first) / (24 * time.Hour))
		if n < 0 || n >= len(out) || !isChange(d) {
			continue
		}
		if d.Status == Succeeded {
			out[n].Deployments++ // a change rolled back later was deployed too
		}
		if failed[i] {
			out[n].Failures++
		}
	}
	return out
}

func isChange(d Deployment) bool {
	return d.Trigger != TriggerRollback && (d.Status == Succeeded || d.Status == Failed || d.Status == TimedOut)
}

// failedChanges marks the failed changes of g (sorted by FinishedAt) by index.
func failedChanges(g []Deployment, window time.Duration) []bool {
	failed := make([]bool, len(g))
	for i, d := range g {
		if !isChange(d) {
			continue
		}
		if d.Status != Succeeded {
			failed[i] = true
			continue
		}
		failed[i] = rolledBack(g, i, window)
	}
	return failed
}

// rolledBack reports whether a rollback was accepted within window after
// g[i] ended and before the next successful change ended.
func rolledBack(g []Deployment, i int, window time.Duration) bool {
	end := g[i].FinishedAt
	next := end.Add(window)
	for _, d := range g[i+1:] {
		if isChange(d) && d.Status == Succeeded && d.FinishedAt.Before(next) {
			next = d.FinishedAt
			break
		}
	}
	for _, d := range g {
		if d.Trigger != TriggerRollback {
			continue
		}
		at := d.AcceptedAt
		if at.IsZero() {
			at = d.FinishedAt
		}
		if !at.Before(end) && at.Before(next) {
			return true
		}
	}
	return false
}

func summarise(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	n := len(ds)
	median := ds[n/2]
	if n%2 == 0 {
		median = (ds[n/2-1] + ds[n/2]) / 2
	}
	return Durations{Count: n, Median: median, Mean: sum / time.Duration(n)}
}

package delivery

import (
	"math"
	"reflect"
	"testing"
	"time"
)

// at is a time on January 2026 in UTC: at(2, 9, 30) is Jan 2, 09:30.
func at(day, hour, minute int) time.Time {
	return time.Date(2026, time.January, day, hour, minute, 0, 0, time.UTC)
}

// dep is a finished push deployment of commit to octo/app production.
func dep(commit, status string, committed, finished time.Time) Deployment {
	return Deployment{ID: "dep_" + commit, Repo: "octo/app", Environment: "production", Trigger: "push",
		Commit: commit, Status: status, CommitTime: committed, AcceptedAt: finished.Add(-10 * time.Minute), FinishedAt: finished}
}

func with(d Deployment, fn func(*Deployment)) Deployment { fn(&d); return d }

func rollback(accepted, finished time.Time, status string) Deployment {
	return Deployment{ID: "dep_rb" + finished.Format("0215"), Repo: "octo/app", Environment: "production",
		Trigger: TriggerRollback, Commit: "c1", Status: status, AcceptedAt: accepted, FinishedAt: finished}
}

// twoWeeks is the history the main case scripts: two weeks of octo/app
// production, with the answer worked out by hand in the comments.
var twoWeeks = []Deployment{
	dep("c0", Succeeded, at(1, 0, 0), at(1, 0, 0).Add(-time.Hour)),       // Dec 31: before the window
	dep("c1", Succeeded, at(1, 8, 0), at(1, 10, 0)),                      // lead 2h
	dep("c2", Failed, at(2, 9, 0), at(2, 10, 0)),                         // failed: opens an incident
	dep("c3", Succeeded, at(2, 11, 0), at(2, 12, 0)),                     // lead 1h; restores after 2h
	dep("c4", Succeeded, at(3, 0, 0), at(3, 6, 0)),                       // lead 6h; rolled back below: failed
	rollback(at(3, 7, 0), at(3, 7, 30), Succeeded),                       // restores c4 after 1h30
	with(dep("c3", Succeeded, at(2, 11, 0), at(4, 10, 0)), rerun),        // c3 again: a deployment, no second lead time
	dep("c5", "CANCELED", at(5, 0, 0), at(5, 1, 0)),                      // not a change
	dep("c6", TimedOut, at(6, 8, 0), at(6, 10, 0)),                       // failed: opens an incident
	dep("c7", Failed, at(6, 9, 0), at(6, 11, 0)),                         // failed while it is open
	dep("c8", Succeeded, at(6, 12, 0), at(6, 14, 0)),                     // lead 2h; restores after 4h (from c6)
	dep("c9", Succeeded, at(7, 0, 0), at(8, 0, 0)),                       // lead 24h
	rollback(at(9, 1, 0), at(9, 1, 10), Succeeded),                       // 25h after c9: does not fail it
	with(dep("c10", Succeeded, time.Time{}, at(10, 0, 0)), noCommitTime), // an entry from before commit times
	dep("c11", Failed, at(13, 0, 0), at(14, 0, 0)),                       // failed, still open at the end
	dep("c12", Succeeded, at(14, 0, 0), at(15, 0, 0)),                    // at Until: after the window
	with(dep("c1", Succeeded, at(1, 8, 0), at(3, 0, 0)), func(d *Deployment) { d.Environment = "staging" }),
	with(dep("x1", "SUPERSEDED", at(1, 0, 0), at(4, 0, 0)), func(d *Deployment) { d.Repo = "octo/api" }),
}

func rerun(d *Deployment)        { d.Trigger = "rerun" }
func noCommitTime(d *Deployment) { d.CommitTime = time.Time{} }

func TestCompute(t *testing.T) {
	t.Parallel()
	window := Window{Since: at(1, 0, 0), Until: at(15, 0, 0)}
	tests := []struct {
		name   string
		deps   []Deployment
		window Window
		want   []Report
	}{{
		name:   "two-weeks",
		deps:   twoWeeks,
		window: window,
		want: []Report{
			// Only a superseded deployment: present (it was seen), nothing to measure.
			{Repo: "octo/api", Environment: "production"},
			{
				Repo: "octo/app", Environment: "production",
				// c1 c3 c4 c3 c8 c9 c10 succeeded: 7 in 14 days.
				Deployments: 7, PerDay: 0.5, PerWeek: 3.5,
				// 1h 2h 2h 6h 24h: median 2h, mean 35h/5.
				LeadTime: Durations{Count: 5, Median: 2 * time.Hour, Mean: 7 * time.Hour},
				// c1 c2 c3 c4 c3 c6 c7 c8 c9 c10 c11 are changes; c2 c4 c6 c7 c11 failed.
				Changes: 11, FailedChanges: 5, ChangeFailureRate: 0.454545455,
				// 2h, 1h30, 4h: median 2h, mean 2h30; c11 still open.
				TimeToRestore: Durations{Count: 3, Median: 2 * time.Hour, Mean: 150 * time.Minute},
				Unrestored:    1,
			},
			{Repo: "octo/app", Environment: "staging", Deployments: 1, PerDay: 0.071428571, PerWeek: 0.5,
				LeadTime: Durations{Count: 1, Median: 40 * time.Hour, Mean: 40 * time.Hour}, Changes: 1},
		},
	}, {
		name: "a-wider-rollback-window-fails-c9",
		deps: []Deployment{
			dep("c9", Succeeded, at(7, 0, 0), at(8, 0, 0)),
			rollback(at(9, 1, 0), at(9, 1, 10), Failed), // its own failure does not matter
			dep("c10", Succeeded, at(9, 2, 0), at(9, 3, 0)),
		},
		window: Window{Since: at(1, 0, 0), Until: at(11, 0, 0), RollbackWindow: 48 * time.Hour},
		want: []Report{{Repo: "octo/app", Environment: "production", Deployments: 2, PerDay: 0.2, PerWeek: 1.4,
			LeadTime: Durations{Count: 2, Median: 12*time.Hour + 30*time.Minute, Mean: 12*time.Hour + 30*time.Minute},
			Changes:  2, FailedChanges: 1, ChangeFailureRate: 0.5,
			// From c9's end to c10's: the failed rollback restored nothing.
			TimeToRestore: Durations{Count: 1, Median: 27 * time.Hour, Mean: 27 * time.Hour}}},
	}, {
		name: "a-rollback-after-the-next-success-undoes-that-one",
		deps: []Deployment{
			dep("c1", Succeeded, at(1, 0, 0), at(1, 1, 0)),
			dep("c2", Succeeded, at(1, 1, 0), at(1, 2, 0)),
			rollback(at(1, 3, 0), at(1, 3, 30), Succeeded),
		},
		window: Window{Since: at(1, 0, 0), Until: at(2, 0, 0)},
		want: []Report{{Repo: "octo/app", Environment: "production", Deployments: 2, PerDay: 2, PerWeek: 14,
			LeadTime: Durations{Count: 2, Median: time.Hour, Mean: time.Hour},
			Changes:  2, FailedChanges: 1, ChangeFailureRate: 0.5,
			TimeToRestore: Durations{Count: 1, Median: 90 * time.Minute, Mean: 90 * time.Minute}}},
	}, {
		name:   "a-future-committer-date-is-left-out",
		deps:   []Deployment{dep("c1", Succeeded, at(3, 0, 0), at(1, 1, 0))},
		window: Window{Since: at(1, 0, 0), Until: at(2, 0, 0)},
		want:   []Report{{Repo: "octo/app", Environment: "production", Deployments: 1, PerDay: 1, PerWeek: 7, Changes: 1}},
	}, {
		name:   "nothing",
		deps:   nil,
		window: window,
		want:   []Report{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := rounded(Compute(tt.deps, tt.window))
			for i := range got {
				got[i].Days = nil // TestComputeDays checks them
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Compute:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestComputeIgnoresOrder: the history may come in any order.
func TestComputeIgnoresOrder(t *testing.T) {
	t.Parallel()
	w := Window{Since: at(1, 0, 0), Until: at(15, 0, 0)}
	want := Compute(twoWeeks, w)
	reversed := make([]Deployment, len(twoWeeks))
	for i, d := range twoWeeks {
		reversed[len(twoWeeks)-1-i] = d
	}
	if got := Compute(reversed, w); !reflect.DeepEqual(got, want) {
		t.Errorf("reversed history:\n got %+v\nwant %+v", got, want)
	}
}

// rounded rounds the rates of rs to 9 decimals, so that a want written as
// 1.4 equals a computed 0.2*7.
func rounded(rs []Report) []Report {
	r9 := func(f float64) float64 { return math.Round(f*1e9) / 1e9 }
	for i := range rs {
		rs[i].PerDay, rs[i].PerWeek, rs[i].ChangeFailureRate = r9(rs[i].PerDay), r9(rs[i].PerWeek), r9(rs[i].ChangeFailureRate)
	}
	return rs
}

// TestComputeDays checks the daily series of the two weeks.
func TestComputeDays(t *testing.T) {
	t.Parallel()
	// Until at noon: the last day is partial, and still drawn.
	reports := Compute(twoWeeks, Window{Since: at(1, 0, 0), Until: at(14, 12, 0)})
	if len(reports) != 3 {
		t.Fatalf("%d reports, want 3", len(reports))
	}
	type count struct{ deployments, failures int }
	got := map[int]count{}
	days := reports[1].Days
	for _, d := range days {
		if d.Deployments+d.Failures > 0 {
			got[d.Date.Day()] = count{d.Deployments, d.Failures}
		}
	}
	want := map[int]count{1: {1, 0}, 2: {1, 1}, 3: {1, 1}, 4: {1, 0}, 6: {1, 2}, 8: {1, 0}, 10: {1, 0}, 14: {0, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("days with changes = %v, want %v", got, want)
	}
	if len(days) != 14 || !days[0].Date.Equal(at(1, 0, 0)) || !days[13].Date.Equal(at(14, 0, 0)) {
		t.Errorf("days run %v to %v (%d), want Jan 1 to Jan 14", days[0].Date, days[len(days)-1].Date, len(days))
	}
}

package api_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/internal/chromiumtest"
)

// deliveryHistory appends to e's audit log, as Accept and Finish do, a
// scripted week of octo/app: three days ago c1 (committed 3h before) succeeds,
// two days ago c2 fails and c3 (committed 1h before) succeeds 2h later, then
// is rolled back; yesterday octo/lib staging c9 succeeds. It returns now.
func deliveryHistory(t *testing.T, e *testEnv) time.Time {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Hour)
	day := func(n int) time.Time {
		return now.Truncate(24 * time.Hour).Add(time.Duration(n)*24*time.Hour + 10*time.Hour)
	}
	if day(0).After(now) { // keep every entry in the past
		now = day(0).Add(time.Hour)
	}
	n := 0
	add := func(repo, env, trigger, commit, status string, accepted, finished time.Time, lead time.Duration) {
		t.Helper()
		n++
		id := "dep_" + strings.Repeat("0", 9) + string(rune('0'+n))
		base := audit.Entry{Actor: "octocat", Trigger: trigger, Repo: repo, Environment: env, Commit: commit, DeploymentID: id}
		acc, fin := base, base
		acc.Time, acc.Action, acc.Outcome = accepted, audit.DeploymentAccepted, "accepted"
		fin.Time, fin.Action, fin.Outcome = finished, audit.DeploymentFinished, status
		if lead > 0 {
			fin.CommitTime = finished.Add(-lead)
		}
		for _, en := range []audit.Entry{acc, fin} {
			if _, err := e.audit.Append(t.Context(), en); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("octo/app", "production", "push", "c1", "SUCCEEDED", day(-3), day(-3).Add(10*time.Minute), 3*time.Hour)
	add("octo/app", "production", "push", "c2", "FAILED", day(-2), day(-2).Add(10*time.Minute), 0)
	add("octo/app", "production", "push", "c3", "SUCCEEDED", day(-2).Add(2*time.Hour), day(-2).Add(130*time.Minute), time.Hour)
	add("octo/app", "production", "rollback", "c1", "SUCCEEDED", day(-2).Add(5*time.Hour), day(-2).Add(6*time.Hour), 0)
	add("octo/lib", "staging", "push", "c9", "SUCCEEDED", day(-1), day(-1).Add(time.Minute), 30*time.Minute)
	return now
}

func TestDeliveryMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := deliveryHistory(t, e)
	since := url.QueryEscape(now.Add(-7 * 24 * time.Hour).Format(time.RFC3339))

	a := e.do("GET", "/api/v1/metrics/delivery?since="+since, "", bearer(token))
	if a.Status != http.StatusOK || !a.Success {
		t.Fatalf("delivery metrics: %d %s", a.Status, a.Raw)
	}
	var got struct {
		Since, Until          time.Time
		RollbackWindowSeconds int64 `json:"rollbackWindowSeconds"`
		Environments          []struct {
			Repo, Environment string
			Deployments       int
			DeploymentsPerDay float64
			LeadTime          struct{ Count, MedianSeconds, MeanSeconds int64 }
			Changes           int
			FailedChanges     int
			ChangeFailureRate float64
			TimeToRestore     struct{ Count, MedianSeconds, MeanSeconds int64 }
			Unrestored        int
			Days              []struct{ Date string }
		}
	}
	if err := json.Unmarshal(a.Data, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Environments) != 2 || got.RollbackWindowSeconds != 86400 {
		t.Fatalf("answer = %s, want octo/app production and octo/lib staging, a 24h rollback window", a.Data)
	}
	app, lib := got.Environments[0], got.Environments[1]
	// c1 and c3 succeeded (2 in 7 days); lead times 3h and 1h; c2 failed and
	// c3 was rolled back: 2 of 3 changes; c3's success does not end c2's
	// incident (it failed too), the rollback does, 5h50 after c2.
	if app.Repo != "octo/app" || app.Environment != "production" || app.Deployments != 2 ||
		app.LeadTime.Count != 2 || app.LeadTime.MedianSeconds != 7200 || app.Changes != 3 || app.FailedChanges != 2 ||
		app.TimeToRestore.Count != 1 || app.TimeToRestore.MeanSeconds != 21000 || app.Unrestored != 0 {
		t.Errorf("octo/app production = %+v", app)
	}
	// The window ends at the server's now, a little after the test's.
	if days := got.Until.Sub(got.Since).Hours() / 24; days < 7 || days > 7.1 || math.Abs(app.DeploymentsPerDay-2/days) > 1e-9 {
		t.Errorf("deploymentsPerDay = %v over %v days, want 2 a window of 7", app.DeploymentsPerDay, days)
	}
	if lib.Repo != "octo/lib" || lib.Deployments != 1 || lib.LeadTime.MedianSeconds != 1800 || lib.ChangeFailureRate != 0 {
		t.Errorf("octo/lib staging = %+v", lib)
	}
	if n := len(app.Days); n < 7 || n > 8 {
		t.Errorf("%d days, want the window's 7 or 8 UTC days", n)
	}

	// Filtered by repository and environment.
	a = e.do("GET", "/api/v1/metrics/delivery?repo=octo/lib&environment=staging", "", bearer(token))
	if err := json.Unmarshal(a.Data, &got); err != nil || len(got.Environments) != 1 || got.Environments[0].Repo != "octo/lib" {
		t.Errorf("filtered: %d %s", a.Status, a.Raw)
	}

	for _, tc := range []struct {
		name, query, auth string
		status            int
		field             string
	}{
		{name: "no-token", query: "", auth: "", status: http.StatusUnauthorized},
		{name: "bad-repo", query: "?repo=octo", auth: bearer(token), status: http.StatusBadRequest, field: "repo"},
		{name: "bad-since", query: "?since=yesterday", auth: bearer(token), status: http.StatusBadRequest, field: "since"},
		{name: "future-since", query: "?since=" + url.QueryEscape(now.Add(48*time.Hour).Format(time.RFC3339)), auth: bearer(token), status: http.StatusBadRequest, field: "since"},
		{name: "bad-environment", query: "?environment=-x", auth: bearer(token), status: http.StatusBadRequest, field: "environment"},
	} {
		a := e.do("GET", "/api/v1/metrics/delivery"+tc.query, "", tc.auth)
		if a.Status != tc.status || a.Success || (tc.field != "" && !strings.Contains(a.Raw, tc.field)) {
			t.Errorf("%s: %d %s, want %d naming %q", tc.name, a.Status, a.Raw, tc.status, tc.field)
		}
	}
}

// TestDeliveryPageInChromium reads the delivery page as a person sees it:
// each environment's numbers and a bar per day with changes.
func TestDeliveryPageInChromium(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := deliveryHistory(t, e)
	a := e.doWith("GET", "/delivery?repo=octo/app", "", nil)
	if a.Status != http.StatusOK || !strings.HasPrefix(a.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /delivery: %d %s", a.Status, a.Raw)
	}

	b := chromiumtest.Start(t)
	since := url.QueryEscape(now.Add(-7 * 24 * time.Hour).Format(time.RFC3339))
	session := b.Open(e.srv.URL + "/delivery?since=" + since)
	text := b.WaitText(session, "both environments", 30*time.Second, func(text string) bool {
		return strings.Contains(text, "octo/app · production") && strings.Contains(text, "octo/lib · staging")
	})
	for _, want := range []string{"2.0 / week", "2h", "67% (2 of 3)", "5h50m", "1.0 / week", "30m", "rolled back within 24h"} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q:\n%s", want, text)
		}
	}
	// The bars of octo/app, drawn with a size: date, kind, count and height.
	bars := b.Eval(session, `JSON.stringify([...document.querySelectorAll('section[data-repo="octo/app"] svg rect')].map(r => {
		const box = r.getBoundingClientRect();
		return [r.dataset.date, r.getAttribute('class'), +r.dataset.count, Math.round(box.height)];
	}))`)
	var got [][]any
	if err := json.Unmarshal([]byte(bars), &got); err != nil {
		t.Fatalf("bars %s: %v", bars, err)
	}
	day := func(n int) string {
		return now.Truncate(24 * time.Hour).Add(time.Duration(n) * 24 * time.Hour).Format(time.DateOnly)
	}
	// Three days ago c1; two days ago c3 succeeded and c2 and c3 failed, the
	// busiest day: its bars fill the 100px plot, c1's a third of it.
	want := [][]any{{day(-3), "ok", 1.0, 33.0}, {day(-2), "ok", 1.0, 33.0}, {day(-2), "failed", 2.0, 66.0}}
	if len(got) != len(want) {
		t.Fatalf("bars = %v, want %v", got, want)
	}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Errorf("bar %d = %v, want %v", i, got[i], want[i])
				break
			}
		}
	}
	if csp := a.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP = %q, want no script at all", csp)
	}
}

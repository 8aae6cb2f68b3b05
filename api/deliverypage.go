package api

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

//go:embed static/delivery.html
var deliveryFS embed.FS

// deliveryTemplate is parsed per request rather than kept in a package
// variable (no globals); it is small, and the page is rarely read.
func deliveryTemplate() (*template.Template, error) {
	return template.ParseFS(deliveryFS, "static/delivery.html")
}

// deliveryCSP: the page is rendered on the server, inline SVG and all, so it
// needs no script at all.
const deliveryCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// deliveryPage serves GET /delivery?repo=&environment=&since=: the delivery
// metrics of GET /api/v1/metrics/delivery, with a bar chart per environment
// of its successful and failed changes per day. It needs no token, like
// /metrics, which exposes the same numbers; guard both at the proxy if they
// must not be public.
func (s *server) deliveryPage(w http.ResponseWriter, r *http.Request) error {
	a, err := s.deliveryReports(r)
	if err != nil {
		return err
	}
	tmpl, err := deliveryTemplate()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	view := deliveryView{Since: a.Since.Format("2006-01-02 15:04"), Until: a.Until.Format("2006-01-02 15:04"),
		Repo: q.Get("repo"), Environment: q.Get("environment"), RollbackWindow: humanDuration(time.Duration(a.RollbackWindowSeconds) * time.Second)}
	for _, rep := range a.Environments {
		view.Environments = append(view.Environments, environmentView(rep))
	}
	var buf bytes.Buffer // rendered whole first: a template error is then an ordinary 500
	if err := tmpl.Execute(&buf, view); err != nil {
		return fmt.Errorf("render delivery page: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", deliveryCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	_, err = w.Write(buf.Bytes())
	return err
}

type deliveryView struct {
	Since, Until, Repo, Environment, RollbackWindow string
	Environments                                    []envView
}

type envView struct {
	Repo, Environment                         string
	Frequency, LeadTime, FailureRate, Restore string
	Chart                                     chart
}

func environmentView(r deliveryReport) envView {
	v := envView{Repo: r.Repo, Environment: r.Environment, Chart: barChart(r.Days),
		Frequency: fmt.Sprintf("%.1f / week", r.DeploymentsPerWeek),
		LeadTime:  "–", FailureRate: "–", Restore: "–"}
	if r.LeadTime.Count > 0 {
		v.LeadTime = humanDuration(time.Duration(r.LeadTime.MedianSeconds) * time.Second)
	}
	if r.Changes > 0 {
		v.FailureRate = fmt.Sprintf("%.0f%% (%d of %d)", 100*r.ChangeFailureRate, r.FailedChanges, r.Changes)
	}
	if r.TimeToRestore.Count > 0 {
		v.Restore = humanDuration(time.Duration(r.TimeToRestore.MeanSeconds) * time.Second)
	}
	return v
}

// chart is a bar chart's geometry, computed here so that the template only
// places what it is given.
type chart struct {
	Width, Height, Base int
	First, Last         string
	Bars                []bar
}

type bar struct {
	Class, Date string
	Count       int
	X, Y, W, H  int
}

// barChart draws a day's successful changes as a green bar with its failed
// changes stacked on it in red, scaled to the busiest day.
func barChart(days []deliveryDay) chart {
	const barW, gap, plot, labels = 12, 2, 100, 14
	c := chart{Width: max(len(days)*(barW+gap), 1), Height: plot + labels, Base: plot}
	if len(days) == 0 {
		return c
	}
	c.First, c.Last = days[0].Date, days[len(days)-1].Date
	most := 1
	for _, d := range days {
		most = max(most, d.Deployments+d.Failures)
	}
	for i, d := range days {
		x, y := i*(barW+gap), plot
		for _, part := range []struct {
			class string
			n     int
		}{{"ok", d.Deployments}, {"failed", d.Failures}} {
			if part.n == 0 {
				continue
			}
			h := part.n * plot / most
			y -= h
			c.Bars = append(c.Bars, bar{Class: part.class, Date: d.Date, Count: part.n, X: x, Y: y, W: barW, H: h})
		}
	}
	return c
}

// humanDuration is d as a person reads it: 45s, 12m, 3h20m, 2.5d.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%dh%02dm", h, m)
		}
		return fmt.Sprintf("%dh", h)
	default:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	}
}

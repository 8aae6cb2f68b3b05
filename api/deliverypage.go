package api

import (
	_ "embed"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"
)

// deliveryHead is the page's head and style; the body is written by
// renderDelivery. The page is not an html/template: a template calls methods
// by name through reflection, which makes the linker keep every exported
// method of every type in the binary (11 MB more for the app, most of it
// go-redis and go-github), for one small page. Every value written is
// escaped with html.EscapeString.
//
//go:embed static/delivery.html
var deliveryHead string

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
	q := r.URL.Query()
	view := deliveryView{Since: a.Since.Format("2006-01-02 15:04"), Until: a.Until.Format("2006-01-02 15:04"),
		Repo: q.Get("repo"), Environment: q.Get("environment"), RollbackWindow: humanDuration(time.Duration(a.RollbackWindowSeconds) * time.Second)}
	for _, rep := range a.Environments {
		view.Environments = append(view.Environments, environmentView(rep))
	}
	page := renderDelivery(view)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", deliveryCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	_, err = w.Write([]byte(page))
	return err
}

// renderDelivery writes the page's body after its head.
func renderDelivery(v deliveryView) string {
	e := html.EscapeString
	var b strings.Builder
	b.WriteString(deliveryHead)
	b.WriteString("<h1>Delivery</h1>\n")
	fmt.Fprintf(&b, `<p class="window">From %s to %s (UTC)`, e(v.Since), e(v.Until))
	if v.Repo != "" {
		fmt.Fprintf(&b, " · %s", e(v.Repo))
	}
	if v.Environment != "" {
		fmt.Fprintf(&b, " · %s", e(v.Environment))
	}
	fmt.Fprintf(&b, ". A change fails if it fails, times out, or is rolled back within %s.</p>\n", e(v.RollbackWindow))
	for _, env := range v.Environments {
		writeEnvironment(&b, env)
	}
	if len(v.Environments) == 0 {
		b.WriteString(`<p class="empty">No deployment finished in this window.</p>` + "\n")
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}

func writeEnvironment(b *strings.Builder, v envView) {
	e := html.EscapeString
	fmt.Fprintf(b, `<section class="environment" data-repo="%s" data-environment="%s">`+"\n", e(v.Repo), e(v.Environment))
	fmt.Fprintf(b, "<h2>%s · %s</h2>\n<dl>\n", e(v.Repo), e(v.Environment))
	for _, dd := range []struct{ label, class, value string }{
		{"Deployment frequency", "frequency", v.Frequency}, {"Median lead time", "lead-time", v.LeadTime},
		{"Change failure rate", "failure-rate", v.FailureRate}, {"Mean time to restore", "restore", v.Restore},
	} {
		fmt.Fprintf(b, `<div><dt>%s</dt><dd class="%s">%s</dd></div>`+"\n", dd.label, dd.class, e(dd.value))
	}
	c := v.Chart
	fmt.Fprintf(b, "</dl>\n"+`<svg class="chart" role="img" aria-label="Deployments per day" viewBox="0 0 %d %d" width="%d" height="%d">`+"\n", c.Width, c.Height, c.Width, c.Height)
	fmt.Fprintf(b, `<line class="axis" x1="0" y1="%d" x2="%d" y2="%d"/>`+"\n", c.Base, c.Width, c.Base)
	for _, r := range c.Bars {
		fmt.Fprintf(b, `<rect class="%s" data-date="%s" data-count="%d" x="%d" y="%d" width="%d" height="%d"><title>%s: %d %s</title></rect>`+"\n",
			e(r.Class), e(r.Date), r.Count, r.X, r.Y, r.W, r.H, e(r.Date), r.Count, e(r.Class))
	}
	fmt.Fprintf(b, `<text class="label" x="0" y="%d">%s</text>`+"\n", c.Height, e(c.First))
	fmt.Fprintf(b, `<text class="label" x="%d" y="%d" text-anchor="end">%s</text>`+"\n</svg>\n", c.Width, c.Height, e(c.Last))
	b.WriteString(`<p class="legend"><span style="background:#1a7f37"></span>successful changes<span style="background:#cf222e"></span>failed changes</p>` + "\n</section>\n")
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

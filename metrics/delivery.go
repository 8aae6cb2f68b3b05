package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pandadeploy/panda/delivery"
)

// DeliverySource reads the deployments that finished in [since, until), of
// every repository and environment for "" and "". *audit.Log implements it.
type DeliverySource interface {
	Deliveries(ctx context.Context, repo, environment string, since, until time.Time) ([]delivery.Deployment, error)
}

// DefaultDeliveryWindow is the window of the delivery metrics when
// DeliveryCollector.Window is zero: DORA's reports look back a month.
const DefaultDeliveryWindow = 30 * 24 * time.Hour

// DeliveryCollector exports package delivery's metrics, per repository and
// environment, over the last Window of the audit log, computed at scrape.
//
// Why at scrape and not updated on each finish: the audit log is the one
// record every app instance and worker shares, so any instance answers the
// same, a restart loses nothing, and the rate and the lead time of a window
// need the history anyway (a counter bumped on finish cannot forget a
// deployment a month old). The read is bounded by the window, and results
// are kept for CacheFor so that several scrapers read Redis once. Labels
// exist only for the repositories and environments with a deployment in
// the window, so their number is bounded by what was deployed, and a
// repository that stops deploying disappears after a window.
type DeliveryCollector struct {
	Source DeliverySource
	// Window is how far back the metrics look. If zero, DefaultDeliveryWindow.
	Window time.Duration
	// CacheFor is how long one computation serves scrapes. If zero, 30 seconds.
	CacheFor time.Duration
	// Timeout bounds one read of the audit log. If zero, 5 seconds.
	Timeout time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time

	mu      sync.Mutex
	at      time.Time
	reports []delivery.Report
	ok      bool
}

var _ prometheus.Collector = (*DeliveryCollector)(nil)

var (
	deliveryLabels  = []string{"repo", "environment"}
	deliveryDeploys = prometheus.NewDesc("panda_delivery_deployments", "Successful changes (not rollbacks) finished in the window.", deliveryLabels, nil)
	deliveryPerDay  = prometheus.NewDesc("panda_delivery_deployments_per_day", "Deployment frequency: successful changes per day of the window.", deliveryLabels, nil)
	deliveryLead    = prometheus.NewDesc("panda_delivery_lead_time_seconds", "Lead time for changes: commit time to successful deployment, over the window.", deliveryLabels, nil)
	deliveryChanges = prometheus.NewDesc("panda_delivery_changes", "Changes (deployments that are not rollbacks, ended SUCCEEDED, FAILED or TIMEOUT) in the window.", deliveryLabels, nil)
	deliveryFailed  = prometheus.NewDesc("panda_delivery_failed_changes", "Changes that failed, timed out, or were rolled back within 24h.", deliveryLabels, nil)
	deliveryCFR     = prometheus.NewDesc("panda_delivery_change_failure_ratio", "Change failure rate: failed changes over changes (0 to 1).", deliveryLabels, nil)
	deliveryRestore = prometheus.NewDesc("panda_delivery_time_to_restore_seconds", "Time to restore: failed change to the next successful deployment, over the window.", deliveryLabels, nil)
	deliveryOpen    = prometheus.NewDesc("panda_delivery_unrestored_failures", "1 if the environment's last failure is not yet followed by a success.", deliveryLabels, nil)
	deliveryWindow  = prometheus.NewDesc("panda_delivery_window_seconds", "The window the delivery metrics cover.", nil, nil)
	deliveryUp      = prometheus.NewDesc("panda_delivery_up", "1 if the audit log could be read at the last computation.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *DeliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{deliveryDeploys, deliveryPerDay, deliveryLead, deliveryChanges,
		deliveryFailed, deliveryCFR, deliveryRestore, deliveryOpen, deliveryWindow, deliveryUp} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It is safe for concurrent use.
func (c *DeliveryCollector) Collect(ch chan<- prometheus.Metric) {
	reports, ok := c.compute()
	window := c.window()
	ch <- prometheus.MustNewConstMetric(deliveryWindow, prometheus.GaugeValue, window.Seconds())
	if !ok {
		ch <- prometheus.MustNewConstMetric(deliveryUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(deliveryUp, prometheus.GaugeValue, 1)
	for _, r := range reports {
		l := []string{r.Repo, r.Environment}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
		}
		gauge(deliveryDeploys, float64(r.Deployments))
		gauge(deliveryPerDay, r.PerDay)
		gauge(deliveryChanges, float64(r.Changes))
		gauge(deliveryFailed, float64(r.FailedChanges))
		gauge(deliveryCFR, r.ChangeFailureRate)
		gauge(deliveryOpen, float64(r.Unrestored))
		ch <- summary(deliveryLead, r.LeadTime, l)
		ch <- summary(deliveryRestore, r.TimeToRestore, l)
	}
}

// summary is a sample as a Prometheus summary: its count, sum and median.
func summary(d *prometheus.Desc, s delivery.Durations, labels []string) prometheus.Metric {
	sum := s.Mean.Seconds() * float64(s.Count)
	// #nosec G115 -- a count, never negative (max guards it)
	return prometheus.MustNewConstSummary(d, uint64(max(s.Count, 0)), sum, map[float64]float64{0.5: s.Median.Seconds()}, labels...)
}

func (c *DeliveryCollector) window() time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	return DefaultDeliveryWindow
}

// compute returns the reports of the window ending now, or those computed
// less than CacheFor ago.
func (c *DeliveryCollector) compute() ([]delivery.Report, bool) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	cacheFor, timeout := c.CacheFor, c.Timeout
	if cacheFor <= 0 {
		cacheFor = 30 * time.Second
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	c.mu.Lock() // also makes concurrent scrapes wait for one read rather than each make their own
	defer c.mu.Unlock()
	t := now()
	if !c.at.IsZero() && t.Sub(c.at) < cacheFor {
		return c.reports, c.ok
	}
	// Collect gets no context from the registry: the timeout is the bound.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	w := delivery.Window{Since: t.Add(-c.window()), Until: t}
	deps, err := c.Source.Deliveries(ctx, "", "", w.Since, w.Until)
	c.at, c.ok = t, err == nil
	c.reports = nil
	if err == nil {
		c.reports = delivery.Compute(deps, w)
	}
	return c.reports, c.ok
}

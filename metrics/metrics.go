// Package metrics holds Panda's Prometheus collectors, shared by the app and the
// worker (each registers its own set on its own registry).
package metrics

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pandadeploy/panda/store"
)

// Metrics are Panda's Prometheus collectors. The app and the worker each make
// one with New on their registry; its methods and collectors are safe
// for concurrent use.
type Metrics struct {
	// WebhookDeliveries counts deliveries by event and outcome (ObserveWebhook).
	WebhookDeliveries *prometheus.CounterVec
	// Deployments counts finished deployments by final status (ObserveDeployment).
	Deployments *prometheus.CounterVec
	// StageDuration observes each finished stage's duration by stage.
	StageDuration *prometheus.HistogramVec
	// SSEClients is the number of open event streams.
	SSEClients prometheus.Gauge
	// APICalls counts calls to GitHub and AWS by service (github, sts, ecr,
	// sfn, …), operation and outcome (ok, error, throttled), for the clients
	// that make them to increment.
	APICalls *prometheus.CounterVec
}

// New makes the collectors and registers them, with the Go and process
// collectors, on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		WebhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "panda_webhook_deliveries_total", Help: "GitHub webhook deliveries by event and outcome.",
		}, []string{"event", "outcome"}),
		Deployments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "panda_deployments_total", Help: "Finished deployments by final status.",
		}, []string{"status"}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "panda_stage_duration_seconds", Help: "Duration of finished deployment stages.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800},
		}, []string{"stage"}),
		SSEClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "panda_sse_clients", Help: "Open Server-Sent Events streams.",
		}),
		APICalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "panda_external_api_calls_total", Help: "Calls to GitHub and AWS APIs by service, operation and outcome.",
		}, []string{"service", "operation", "outcome"}),
	}
	reg.MustRegister(m.WebhookDeliveries, m.Deployments, m.StageDuration, m.SSEClients, m.APICalls,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveWebhook counts one delivery. Wire it into webhook.Handler.Observe as
//
//	Observe: func(e string, o webhook.Outcome) { m.ObserveWebhook(e, string(o)) }
//
// It takes a plain string so that this package needs nothing of package webhook.
func (m *Metrics) ObserveWebhook(event, outcome string) {
	m.WebhookDeliveries.WithLabelValues(event, outcome).Inc()
}

// ObserveDeployment counts a deployment that reached its final status and
// observes its stage durations. The worker calls it once, where it writes the
// final status.
func (m *Metrics) ObserveDeployment(d *store.Deployment) {
	m.Deployments.WithLabelValues(string(d.Status)).Inc()
	for stage, dur := range d.StageDurations {
		m.StageDuration.WithLabelValues(stage).Observe(dur.Seconds())
	}
}

// QueueInspector is what the queue collector needs of *asynq.Inspector.
type QueueInspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
}

// NewQueueCollector returns a collector of the Asynq queues' sizes by state
// and latency, read from insp at each scrape. Register it next to Metrics.
func NewQueueCollector(insp QueueInspector) prometheus.Collector { return &queueCollector{insp: insp} }

type queueCollector struct{ insp QueueInspector }

var (
	queueSizeDesc = prometheus.NewDesc("panda_queue_tasks", "Asynq tasks by queue and state.",
		[]string{"queue", "state"}, nil)
	queueLatencyDesc = prometheus.NewDesc("panda_queue_latency_seconds",
		"Age of the oldest pending task by queue.", []string{"queue"}, nil)
	queueUpDesc = prometheus.NewDesc("panda_queue_inspect_up", "1 if the queues could be read at the last scrape.", nil, nil)
)

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueSizeDesc
	ch <- queueLatencyDesc
	ch <- queueUpDesc
}

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	names, err := q.insp.Queues()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 1)
	for _, name := range names {
		info, err := q.insp.GetQueueInfo(name)
		if err != nil {
			continue
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			ch <- prometheus.MustNewConstMetric(queueSizeDesc, prometheus.GaugeValue, float64(n), name, state)
		}
		ch <- prometheus.MustNewConstMetric(queueLatencyDesc, prometheus.GaugeValue, info.Latency.Seconds(), name)
	}
}

// Package api is Panda's HTTP interface: the webhook intake, the REST API of
// connections, manual deployments and results, live progress as Server-Sent
// Events, the deployment page GitHub's check runs link to, health checks,
// Prometheus metrics and the OpenAPI description.
//
// Every answer of the REST API is the seed system's envelope
// {"success", "message", "data"}. Routes are Go 1.22 ServeMux patterns; each
// handler returns an error that one adapter maps to a status code.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/metrics"
	"github.com/pandadeploy/panda/store"
)

// Deployer starts a deployment asked for through POST /api/v1/deploy.
// *deployment.Service implements it: it creates the record and enqueues the first task, and
// returns the record (status QUEUED or RUNNING). An error that
// pipeline.IsPermanent reports as permanent is the caller's fault (400, with
// pipeline.UserMessage); any other is a 503.
type Deployer interface {
	Deploy(ctx context.Context, req deployment.Request) (*store.Deployment, error)
}

// AWSVerifier checks an AWS connection before it is stored and returns the
// account its credentials belong to. *connections.STSVerifier implements it;
// an error wrapping connections.ErrRejected means AWS refused the
// credentials (400), any other that AWS could not be asked (502).
type AWSVerifier interface {
	Verify(ctx context.Context, c connections.AWS) (accountID string, err error)
}

// GitHubVerifier checks a token connection before it is stored: that GitHub
// accepts the token and it can read the repository. An error wrapping
// connections.ErrRejected means GitHub refused it (400), any other that
// GitHub could not be asked (502).
type GitHubVerifier interface {
	VerifyGitHub(ctx context.Context, c connections.GitHub) error
}

// Options are the dependencies of the handler returned by New.
type Options struct {
	// Store holds deployments and their event streams. Required.
	Store *store.Store
	// Connections holds the AWS and GitHub connections. Required.
	Connections *connections.Store
	// Logger receives request errors. If nil, slog.Default().
	Logger *slog.Logger
	// APITokens are the callers of the /api/v1 routes, each a name (recorded
	// in the audit log as who acted) and a bearer token. If empty, every token
	// is refused (fail closed) and only the by-id reads work.
	APITokens []config.APIToken
	// PublicURL is the app's external base URL, like https://panda.example.com,
	// used in the links answered by POST /api/v1/deploy.
	PublicURL string
	// Webhook serves POST /webhook. If nil, that route answers 503.
	Webhook http.Handler
	// Deployer starts manual deployments. If nil, POST /api/v1/deploy answers 503.
	Deployer Deployer
	// AWSVerifier verifies AWS connections. If nil, POST /api/v1/connect/aws answers 503.
	AWSVerifier AWSVerifier
	// GitHubVerifier verifies token connections. If nil, a token is stored
	// unverified (with a warning in the log), as before verification existed.
	GitHubVerifier GitHubVerifier
	// Audit is the audit log: connection changes and manual deployments are
	// appended, GET /api/v1/audit reads it. If nil, nothing is recorded and
	// the audit routes answer 503.
	Audit *audit.Log
	// Registry is served at /metrics. If nil, a new registry with only Panda's metrics.
	Registry *prometheus.Registry
	// Metrics are the collectors the API updates. If nil, metrics.New(Registry).
	Metrics *metrics.Metrics
	// Ready reports whether the app can serve (GET /readyz). If nil, a Redis PING.
	Ready func(ctx context.Context) error
	// CORSOrigins are the origins (like https://dashboard.example.com) whose
	// pages may call the API and open event streams. If empty, CORS is off.
	CORSOrigins []string
	// SwaggerUIDir is the swagger-ui-dist package directory served at
	// /swagger-ui/. If empty, /swagger-ui/ answers 404.
	SwaggerUIDir string
	// Heartbeat is the interval of SSE heartbeat comments. If zero, 15 seconds.
	Heartbeat time.Duration
	// SSEWriteTimeout bounds each write to an SSE client, so a client that stops
	// reading is dropped instead of holding its goroutine. If zero, 30 seconds.
	SSEWriteTimeout time.Duration
	// Stop, when closed, ends every event stream. http.Server.Shutdown does not
	// cancel request contexts, so pass the shutdown signal here (for example
	// ctx.Done() of signal.NotifyContext) or Shutdown waits on open streams.
	// If nil, streams end only with their request or their deployment.
	Stop <-chan struct{}
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

type server struct {
	Options
	log  *slog.Logger
	hubs *hubs
}

// New returns the app's HTTP handler. It is safe for concurrent use. Server
// timeouts (ReadHeaderTimeout and the others) are the caller's: SSE
// responses clear their own write deadline.
func New(opts Options) http.Handler {
	s := &server{Options: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	if s.Metrics == nil {
		s.Metrics = metrics.New(s.Registry)
	}
	if s.Heartbeat <= 0 {
		s.Heartbeat = 15 * time.Second
	}
	if s.SSEWriteTimeout <= 0 {
		s.SSEWriteTimeout = 30 * time.Second
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	s.PublicURL = strings.TrimRight(s.PublicURL, "/")
	s.hubs = newHubs(s.Store, s.log, s.Heartbeat, s.Stop)
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, rt.handler)
	}
	return s.cors(mux)
}

// route is one pattern of the mux; the OpenAPI test compares them with the spec.
type route struct {
	pattern string
	handler http.Handler
}

func (s *server) routes() []route {
	return []route{
		{"POST /webhook", s.webhook()},
		{"POST /api/v1/connect/aws", s.requireToken(s.handle(s.connectAWS))},
		{"POST /api/v1/connect/github", s.requireToken(s.handle(s.connectGitHub))},
		{"GET /api/v1/connections", s.requireToken(s.handle(s.listConnections))},
		{"DELETE /api/v1/connections/aws/{name}", s.requireToken(s.handle(s.deleteAWS))},
		{"DELETE /api/v1/connections/github/{owner}/{repo}", s.requireToken(s.handle(s.deleteGitHub))},
		{"POST /api/v1/deploy", s.requireToken(s.handle(s.deploy))},
		{"GET /api/v1/deployments", s.requireToken(s.handle(s.listDeployments))},
		{"GET /api/v1/audit", s.requireToken(s.handle(s.listAudit))},
		{"GET /api/v1/audit/export", s.requireToken(s.handle(s.exportAudit))},
		{"GET /api/v1/metrics/delivery", s.requireToken(s.handle(s.deliveryMetrics))},
		{"GET /delivery", s.handle(s.deliveryPage)}, // public like /metrics, which shows the same numbers
		// The deployment's own reads also accept its unguessable id alone: the
		// page GitHub links to runs in a browser that has no API token.
		{"GET /api/v1/deploy/{id}/events", s.tokenOrID(s.handle(s.events))},
		{"GET /api/v1/deploy/{id}/result", s.tokenOrID(s.handle(s.result))},
		{"GET /deployments/{id}", s.tokenOrID(s.handle(s.page))},
		{"GET /assets/deployment.js", s.handle(s.pageScript)},
		{"GET /healthz", s.handle(s.healthz)},
		{"GET /readyz", s.handle(s.readyz)},
		{"GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Timeout: 10 * time.Second})},
		{"GET /api/openapi.json", s.handle(s.openAPI)},
		{"GET /swagger-ui/{$}", s.handle(s.swaggerIndex)},
		{"GET /swagger-ui/{file}", s.handle(s.swaggerFile)},
		{"/", s.handle(s.notFound)},
	}
}

func (s *server) webhook() http.Handler {
	if s.Webhook != nil {
		return s.Webhook
	}
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &Error{Status: http.StatusServiceUnavailable, Message: "webhooks are not configured"}
	})
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) error {
	return &Error{Status: http.StatusNotFound, Message: "no such route"}
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeOK(w, http.StatusOK, "ok", nil)
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	check := s.Ready
	if check == nil {
		check = func(ctx context.Context) error { return s.Store.Redis().Ping(ctx).Err() }
	}
	if err := check(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Message: "not ready"}
	}
	return writeOK(w, http.StatusOK, "ready", nil)
}

package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/commitstatus"
	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/redact"
	"github.com/pandadeploy/panda/retry"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// Deps are what a worker runs against. cmd/worker makes them from its
// configuration; a test makes them from its test servers. Every test that runs
// a worker goes through NewServer with them, so tests run what ships.
type Deps struct {
	Redis redis.UniversalClient
	// GitHub is the App: installation clients, clone tokens, check runs.
	GitHub  *githubapp.Factory
	Builder Builder
	// BuilderPushes says Builder pushes the image itself (buildkitd straight
	// to ECR), so the push stage only records what it pushed.
	BuilderPushes bool
	// BuildSecrets gives the build secrets of one repository's environment
	// (.panda.yml build_secrets). If nil, a build that names secrets fails as
	// the user's error.
	BuildSecrets func(repo, environment string) image.Secrets
	AWS          AWS
	// Connections holds the token connections of repositories without the
	// App: their deployments clone with the stored token and report as
	// commit statuses (package commitstatus). If nil, only installations
	// deploy. (AWS connections reach the worker through AWS, an
	// AWSProvider whose Connections reads the same store.)
	Connections *connections.Store
	Logger      *slog.Logger
	// Redactor scrubs every text the worker sends GitHub (check runs) of the
	// secrets it knows; cmd/worker makes one and teaches it the tokens GitHub
	// issues. If nil, only the patterns of GitHub's tokens are redacted.
	Redactor *redact.Redactor
	// OnFinish, if set, is called once with each deployment that reached its
	// final status (metrics).
	OnFinish func(*store.Deployment)
	// Pace shortens the worker's waits; the zero value is production's.
	Pace Pace
}

// Pace is the worker's timing. Tests shorten it to run a rollout in seconds;
// a zero field keeps the production value given on it.
type Pace struct {
	// WaitInterval: how often a deployment queued behind another looks again (5 s).
	WaitInterval time.Duration
	// LogInterval: the least time between two log updates of a check run
	// (checks.DefaultMinInterval).
	LogInterval time.Duration
	// StartDelay: how long a stage's in_progress update is held back, so a
	// quick stage costs one GitHub write (checks.Reporter.StartDelay; the
	// log interval). Negative: sent at once.
	StartDelay time.Duration
	// RetryDelay: Asynq's RetryDelayFunc (retry.DelayFunc with GitHub's rate
	// limits: a typed wait is honoured, anything else backs off with jitter).
	RetryDelay asynq.RetryDelayFunc
	// DelayedCheck: how often scheduled and retried tasks are moved to their
	// queue (1 s).
	DelayedCheck time.Duration
	// ShutdownTimeout: how long running tasks get on shutdown before they go
	// back to the queue (25 s).
	ShutdownTimeout time.Duration
}

// Server is one worker: the Asynq server with every task handler registered.
type Server struct {
	srv *asynq.Server
	mux *asynq.ServeMux
	// Deployer and Intake are the handlers, exposed for tests that look at
	// what a worker holds; they are not to be reconfigured once started.
	Deployer *Deployer
	Intake   *GitHubHandler
}

// NewServer wires a worker from its configuration and dependencies. It starts
// nothing: call Start.
func NewServer(cfg config.Worker, deps Deps) *Server {
	logger := deps.Logger
	queue := asynq.NewClientFromRedisClient(deps.Redis)
	st := store.New(deps.Redis)
	reporter := &checks.Reporter{
		Clients: func(ctx context.Context, id int64) (checks.API, error) {
			c, err := deps.GitHub.Client(ctx, id)
			if err != nil {
				return nil, err
			}
			return c.Checks, nil
		},
		PublicURL:   cfg.PublicURL,
		MinInterval: deps.Pace.LogInterval,
		StartDelay:  startDelay(deps.Pace),
		Logger:      logger,
		Redactor:    deps.Redactor,
	}
	var runs commitstatus.Runs = reporter
	var tokens Tokens = deps.GitHub
	var tokenClients deployment.TokenClients
	if deps.Connections != nil {
		gh := &connections.GitHubTokens{APIURL: cfg.GitHub.APIURL, Store: deps.Connections}
		runs = commitstatus.ByAuth{App: reporter, Tokens: commitstatus.ForTokens(gh, cfg.PublicURL, logger)}
		tokens = connections.CloneTokens{App: deps.GitHub, Tokens: gh}
		tokenClients = gh
	}
	life := &deployment.Service{
		Store: st, Queue: queue, Checks: runs, GitHub: deps.GitHub, Tokens: tokenClients,
		PublicURL: cfg.PublicURL, BuildTimeout: cfg.BuildTimeout, Logger: logger, OnFinish: deps.OnFinish,
		Audit: audit.New(deps.Redis, cfg.AuditRetention), // [audit]
	}
	d := &Deployer{
		Life: life, Store: st, Queue: queue, Checks: runs, Tokens: tokens,
		Builder: deps.Builder, BuilderPushes: deps.BuilderPushes, BuildSecrets: deps.BuildSecrets, AWS: deps.AWS, GitURL: cfg.GitHub.URL, WorkDir: cfg.WorkDir,
		DeployTimeout: cfg.DeployTimeout,
		WaitInterval:  deps.Pace.WaitInterval, Logger: logger,
	}
	intake := &GitHubHandler{Store: st, GitHub: deps.GitHub, Deployer: d, Logger: logger, AllowForks: cfg.AllowForks}

	mux := asynq.NewServeMux()
	mux.Use(LogTasks(logger))
	d.register(mux)
	intake.register(mux)
	return &Server{
		srv:      asynq.NewServerFromRedisClient(deps.Redis, serverConfig(cfg, deps.Pace, logger)),
		mux:      mux,
		Deployer: d,
		Intake:   intake,
	}
}

// Start runs the handlers until Shutdown.
func (s *Server) Start() error {
	if err := s.srv.Start(s.mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	return nil
}

// Shutdown stops taking tasks and waits (Pace.ShutdownTimeout at most) for
// the running ones; those still running go back to the queue.
func (s *Server) Shutdown() { s.srv.Shutdown() }

func serverConfig(cfg config.Worker, pace Pace, logger *slog.Logger) asynq.Config {
	or := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	delay := pace.RetryDelay
	if delay == nil {
		delay = retry.DelayFunc(githubapp.RateLimitWait)
	}
	concurrency := cfg.Concurrency
	if concurrency <= 0 {
		concurrency = 4
	}
	return asynq.Config{
		Concurrency:    concurrency,
		Queues:         tasks.Queues(),
		RetryDelayFunc: delay,
		IsFailure:      IsFailure,
		// Follow tasks re-enqueue themselves a second or a few ahead; forward
		// them promptly rather than at Asynq's default of every 5 seconds.
		DelayedTaskCheckInterval: or(pace.DelayedCheck, time.Second),
		// Running tasks get this long to finish on SIGTERM; then they go back
		// to the queue and another worker resumes them.
		ShutdownTimeout: or(pace.ShutdownTimeout, 25*time.Second),
		Logger:          AsynqLogger{L: logger.With("component", "asynq")},
		LogLevel:        asynq.WarnLevel,
	}
}

// LogTasks is an Asynq middleware that logs each task's end with its type,
// TaskID, deployment id (when the payload names one), attempt and duration.
func LogTasks(logger *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			start := time.Now()
			id, _ := asynq.GetTaskID(ctx)
			retry, _ := asynq.GetRetryCount(ctx)
			var ids struct {
				DeploymentID string         `json:"deploymentId"`
				Delivery     tasks.Delivery `json:"delivery"`
			}
			_ = json.Unmarshal(t.Payload(), &ids)
			log := logger.With("task_type", t.Type(), "task_id", id, "attempt", retry+1)
			if ids.DeploymentID != "" {
				log = log.With("deployment_id", ids.DeploymentID)
			}
			if ids.Delivery.ID != "" {
				log = log.With("delivery_id", ids.Delivery.ID)
			}
			err := next.ProcessTask(ctx, t)
			if err != nil {
				log.Warn("task failed", "err", err, "took", time.Since(start).Round(time.Millisecond))
			} else {
				log.Debug("task done", "took", time.Since(start).Round(time.Millisecond))
			}
			return err
		})
	}
}

// AsynqLogger adapts slog to Asynq's logger.
type AsynqLogger struct{ L *slog.Logger }

func (a AsynqLogger) Debug(args ...any) { a.L.Debug(fmt.Sprint(args...)) }
func (a AsynqLogger) Info(args ...any)  { a.L.Info(fmt.Sprint(args...)) }
func (a AsynqLogger) Warn(args ...any)  { a.L.Warn(fmt.Sprint(args...)) }
func (a AsynqLogger) Error(args ...any) { a.L.Error(fmt.Sprint(args...)) }
func (a AsynqLogger) Fatal(args ...any) { a.L.Error(fmt.Sprint(args...)) }

// IsFailure tells Asynq which errors count as failures for its statistics:
// a skipped retry of bad input is not the system failing.
func IsFailure(err error) bool { return !errors.Is(err, asynq.SkipRetry) }

func startDelay(p Pace) time.Duration {
	switch {
	case p.StartDelay < 0:
		return 0
	case p.StartDelay > 0:
		return p.StartDelay
	case p.LogInterval > 0:
		return p.LogInterval
	}
	return checks.DefaultMinInterval
}

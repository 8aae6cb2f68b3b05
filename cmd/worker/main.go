// Command worker runs Panda's Asynq task handlers: it turns webhook tasks into
// deployments and drives each deployment through clone, build, push and the
// Step Functions rollout.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/docker/docker/client"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/api"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/jobs"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/sweeper"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "panda worker:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.LoadWorker(os.LookupEnv)
	if err != nil {
		return err
	}
	logger := cfg.Logger(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rdb, err := store.Open(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	gh, err := githubapp.New(githubapp.Config{AppID: cfg.GitHub.AppID, PrivateKey: []byte(cfg.GitHub.PrivateKey.Reveal()), APIURL: cfg.GitHub.APIURL})
	if err != nil {
		return fmt.Errorf("GitHub App: %w", err)
	}
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client (DOCKER_HOST): %w", err)
	}
	defer docker.Close()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}

	builder, pushes, closeBuilder, err := newBuilder(ctx, cfg, docker)
	if err != nil {
		return err
	}
	defer closeBuilder()

	st := store.New(rdb)
	deployer := newDeployer(cfg, st, rdb, gh, docker, awsCfg, logger)
	deployer.Builder, deployer.BuilderPushes = builder, pushes
	reg := prometheus.NewRegistry()
	metrics := api.NewMetrics(reg)
	deployer.OnFinish = metrics.ObserveDeployment
	stopMetrics := serveMetrics(cfg.MetricsAddr, reg, logger)
	defer stopMetrics()

	intake := &jobs.GitHubHandler{Store: st, GitHub: gh, Deployer: deployer, Logger: logger, AllowForks: cfg.AllowForks}

	mux := asynq.NewServeMux()
	mux.Use(jobs.LogTasks(logger))
	deployer.Register(mux)
	intake.Register(mux)

	srv := asynq.NewServerFromRedisClient(rdb, serverConfig(cfg, logger))
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("worker started", "concurrency", cfg.Concurrency)
	swept := sweep(ctx, cfg, gh, st, rdb, logger)
	<-ctx.Done()
	logger.Info("worker shutting down")
	srv.Shutdown()
	<-swept
	return nil
}

// sweep runs the webhook redelivery sweeper until ctx ends, when the returned
// channel closes. It needs the App's credentials to list deliveries; without
// them it does nothing.
func sweep(ctx context.Context, cfg config.Worker, gh *githubapp.Factory, st *store.Store, rdb redis.UniversalClient, logger *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	if cfg.GitHub.AppID == 0 || cfg.GitHub.PrivateKey == "" {
		close(done)
		return done
	}
	s := &sweeper.Sweeper{Hooks: gh.AppClient().Apps, Deliveries: st, Redis: rdb, Logger: logger.With("component", "sweeper")}
	go func() {
		defer close(done)
		_ = s.Run(ctx) // returns nil when ctx ends
	}()
	return done
}

func newChecks(cfg config.Worker, gh *githubapp.Factory, logger *slog.Logger) *checks.Reporter {
	return &checks.Reporter{
		Clients: func(ctx context.Context, id int64) (checks.API, error) {
			c, err := gh.Client(ctx, id)
			if err != nil {
				return nil, err
			}
			return c.Checks, nil
		},
		PublicURL: cfg.PublicURL,
		Logger:    logger,
	}
}

// serveMetrics serves /metrics and /healthz on addr ("off": nothing) until the
// returned function is called.
func serveMetrics(addr string, reg *prometheus.Registry, logger *slog.Logger) func() {
	if addr == "off" {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "addr", addr, "err", err)
		}
	}()
	return func() { _ = srv.Close() }
}

// newBuilder is the buildkitd builder when PANDA_BUILDKIT_ADDR is set (it pushes
// during the build), else the Docker engine's BuildKit.
func newBuilder(ctx context.Context, cfg config.Worker, docker *client.Client) (jobs.Builder, bool, func(), error) {
	if cfg.Buildkit.Addr == "" {
		return &image.Builder{Engine: docker, MaxContextBytes: cfg.MaxContextBytes, Timeout: cfg.BuildTimeout, NetworkMode: cfg.BuildNetwork}, false, func() {}, nil
	}
	b := cfg.Buildkit
	bk, err := image.NewBuildkitClient(ctx, image.BuildkitConn{Addr: b.Addr, CA: b.CA, Cert: b.Cert, Key: b.Key, ServerName: b.ServerName})
	if err != nil {
		return nil, false, nil, err
	}
	return &image.BuildkitBuilder{Client: bk, MaxContextBytes: cfg.MaxContextBytes, Timeout: cfg.BuildTimeout}, true, func() { _ = bk.Close() }, nil
}

// newDeployer wires the deployment chain's stages.
func newDeployer(cfg config.Worker, st *store.Store, rdb redis.UniversalClient, gh *githubapp.Factory,
	docker *client.Client, awsCfg aws.Config, logger *slog.Logger) *jobs.Deployer {
	return &jobs.Deployer{
		Store:         st,
		Queue:         asynq.NewClientFromRedisClient(rdb),
		Checks:        newChecks(cfg, gh, logger),
		Tokens:        gh,
		GitHub:        gh,
		PublicURL:     cfg.PublicURL,
		AWS:           &jobs.AWSProvider{Base: awsCfg, Engine: docker},
		GitURL:        cfg.GitHub.URL,
		WorkDir:       cfg.WorkDir,
		BuildTimeout:  cfg.BuildTimeout,
		DeployTimeout: cfg.DeployTimeout,
		Logger:        logger,
	}
}

// serverConfig is the Asynq server's configuration.
func serverConfig(cfg config.Worker, logger *slog.Logger) asynq.Config {
	return asynq.Config{
		Concurrency:    cfg.Concurrency,
		Queues:         jobs.Queues(),
		RetryDelayFunc: jobs.RetryDelay,
		IsFailure:      jobs.IsFailure,
		// Follow tasks re-enqueue themselves a second or a few ahead; forward
		// them promptly rather than at Asynq's default of every 5 seconds.
		DelayedTaskCheckInterval: time.Second,
		// Running tasks get this long to finish on SIGTERM; then they go back
		// to the queue and another worker resumes them.
		ShutdownTimeout: 25 * time.Second,
		Logger:          jobs.AsynqLogger{L: logger.With("component", "asynq")},
		LogLevel:        asynq.WarnLevel,
	}
}

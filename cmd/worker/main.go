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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/jobs"
	"github.com/pandadeploy/panda/metrics"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/redact"
	"github.com/pandadeploy/panda/secrets"
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
	logger, red := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rdb, err := store.Open(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	gh, err := githubapp.New(githubapp.Config{AppID: cfg.GitHub.AppID, PrivateKey: []byte(cfg.GitHub.PrivateKey.Reveal()), APIURL: cfg.GitHub.APIURL, Redactor: red})
	if err != nil {
		return fmt.Errorf("GitHub App: %w", err)
	}
	docker, awsCfg, err := newClients(ctx)
	if err != nil {
		return err
	}
	defer docker.Close()

	builder, pushes, closeBuilder, err := newBuilder(ctx, cfg, docker)
	if err != nil {
		return err
	}
	defer closeBuilder()
	conns, err := newConnections(cfg, rdb)
	if err != nil {
		return err
	}
	st := store.New(rdb)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	stopMetrics := serveMetrics(cfg.MetricsAddr, reg, logger)
	defer stopMetrics()

	srv := jobs.NewServer(cfg, jobs.Deps{
		Redis:         rdb,
		GitHub:        gh,
		Builder:       builder,
		BuilderPushes: pushes,
		AWS: &jobs.AWSProvider{Base: awsCfg, Engine: docker, Learn: red.Add,
			Connections: &connections.Resolver{Store: conns, Learn: red.Add}},
		Connections: conns,
		Logger:      logger,
		Redactor:    red,
		OnFinish:    m.ObserveDeployment,
	})
	if err := srv.Start(); err != nil {
		return err
	}
	logger.Info("worker started", "concurrency", cfg.Concurrency)
	swept := sweep(ctx, cfg, gh, st, rdb, logger)
	<-ctx.Done()
	logger.Info("worker shutting down")
	srv.Shutdown()
	<-swept
	return nil
}

// newConnections is the store of the connections registered through the
// API. Without PANDA_ENCRYPTION_KEY it still serves connections without
// secrets (a role without an external id); one with secrets then fails its
// deployment with secrets.ErrNoKey in the log.
func newConnections(cfg config.Worker, rdb redis.UniversalClient) (*connections.Store, error) {
	var box *secrets.Box
	if key := cfg.EncryptionKey.Reveal(); key != "" {
		b, err := secrets.New([]byte(key))
		if err != nil {
			return nil, fmt.Errorf("PANDA_ENCRYPTION_KEY: %w", err)
		}
		box = b
	}
	return connections.NewStore(rdb, box), nil
}

// newLogger is the worker's logger, through one Redactor that knows every
// secret the worker holds (the tokens GitHub issues it are added as they
// arrive) and scrubs logs and check runs.
func newLogger(cfg config.Worker) (*slog.Logger, *redact.Redactor) {
	red := &redact.Redactor{}
	red.Add(cfg.GitHub.PrivateKey.Reveal())
	return slog.New(redact.NewHandler(cfg.Logger(os.Stderr).Handler(), red)), red
}

// newClients are the Docker engine (DOCKER_HOST) and the AWS configuration
// (the standard AWS_* variables) the worker's stages use.
func newClients(ctx context.Context) (*client.Client, aws.Config, error) {
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, aws.Config{}, fmt.Errorf("docker client (DOCKER_HOST): %w", err)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		_ = docker.Close()
		return nil, aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	return docker, awsCfg, nil
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

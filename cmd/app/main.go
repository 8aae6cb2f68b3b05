// Command app is Panda's HTTP front: it takes GitHub's webhooks at POST
// /webhook (verify, record, enqueue, answer) and serves the API, the live event
// streams and the deployment pages. It never runs a deployment stage itself.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/api"
	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/commitstatus"
	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/metrics"
	"github.com/pandadeploy/panda/redact"
	"github.com/pandadeploy/panda/secrets"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "panda app:", err)
		os.Exit(1)
	}
}

// newLogger is the app's logger, through a Redactor that knows the secrets
// the app holds by value (the webhook secret, every API token, the App key,
// the encryption key), besides the token patterns it knows by shape.
func newLogger(cfg config.App) *slog.Logger {
	red := &redact.Redactor{}
	red.Add(cfg.WebhookSecret.Reveal(), cfg.GitHub.PrivateKey.Reveal(), cfg.EncryptionKey.Reveal())
	for _, t := range cfg.APITokens {
		red.Add(t.Token.Reveal())
	}
	return slog.New(redact.NewHandler(cfg.Logger(os.Stderr).Handler(), red))
}

func run() error {
	cfg, err := config.LoadApp(os.LookupEnv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rdb, err := store.Open(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	handler, err := newHandler(ctx, cfg, rdb, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:    cfg.Addr,
		Handler: handler,
		// Headers must arrive promptly; bodies and SSE streams have their own limits.
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(_ net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("app listening", "addr", cfg.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	case <-ctx.Done():
	}
	logger.Info("app shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// newHandler wires the webhook intake, the API and the metrics.
func newHandler(ctx context.Context, cfg config.App, rdb redis.UniversalClient, logger *slog.Logger) (http.Handler, error) {
	st := store.New(rdb)
	queue := asynq.NewClientFromRedisClient(rdb)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	reg.MustRegister(metrics.NewQueueCollector(asynq.NewInspectorFromRedisClient(rdb)))

	var box *secrets.Box
	if key := cfg.EncryptionKey.Reveal(); key != "" {
		b, err := secrets.New([]byte(key))
		if err != nil {
			return nil, fmt.Errorf("PANDA_ENCRYPTION_KEY: %w", err)
		}
		box = b
	}
	verifier, err := connections.NewSTSVerifier(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	conns := connections.NewStore(rdb, box)
	auditLog := audit.New(rdb, cfg.AuditRetention)
	reg.MustRegister(&metrics.DeliveryCollector{Source: auditLog}) // computed from the audit log at scrape
	deployer, err := newDeployer(cfg, st, queue, conns, auditLog, logger)
	if err != nil {
		return nil, err
	}
	return api.New(api.Options{
		Store:       st,
		Connections: conns,
		Logger:      logger,
		APITokens:   cfg.APITokens,
		CORSOrigins: cfg.CORSOrigins,
		// Swagger UI's files, installed by scripts (npm ci in api/swaggerui).
		SwaggerUIDir: cfg.SwaggerUIDir,
		Audit:        auditLog,
		PublicURL:    cfg.PublicURL,
		Webhook: &webhook.Handler{
			Secret:  []byte(cfg.WebhookSecret.Reveal()),
			Queue:   queue,
			Store:   st,
			Logger:  logger,
			Observe: func(event string, o webhook.Outcome) { m.ObserveWebhook(event, string(o)) },
			// One look-up of an installation per second, not one per delivery.
			ServesFor: time.Second,
		},
		Deployer:    deployer,
		AWSVerifier: verifier,
		// A token connection must be able to read its repository.
		GitHubVerifier: &connections.GitHubTokens{APIURL: cfg.GitHub.APIURL, Store: conns},
		Registry:       reg,
		Metrics:        m,
		// Ends open event streams on shutdown: http.Server.Shutdown waits for
		// handlers but does not cancel their requests.
		Stop: ctx.Done(),
	}), nil
}

// newDeployer gives the API what it needs to accept manual deployments: the
// deployment service, which records a deployment, opens its check runs and
// queues its build. Without GitHub App credentials there is none.
func newDeployer(cfg config.App, st *store.Store, queue *asynq.Client, conns *connections.Store, auditLog *audit.Log, logger *slog.Logger) (api.Deployer, error) {
	if cfg.GitHub.AppID == 0 {
		return nil, nil
	}
	gh, err := githubapp.New(githubapp.Config{AppID: cfg.GitHub.AppID, PrivateKey: []byte(cfg.GitHub.PrivateKey.Reveal()), APIURL: cfg.GitHub.APIURL})
	if err != nil {
		return nil, fmt.Errorf("GitHub App: %w", err)
	}
	// Repositories connected with a token (no installation) are resolved
	// with it and report as commit statuses.
	tokens := &connections.GitHubTokens{APIURL: cfg.GitHub.APIURL, Store: conns}
	return &deployment.Service{
		Store: st, Queue: queue, GitHub: gh, Tokens: tokens, Logger: logger, PublicURL: cfg.PublicURL, Audit: auditLog,
		Checks: commitstatus.ByAuth{
			App: &checks.Reporter{
				Clients: func(ctx context.Context, id int64) (checks.API, error) {
					c, err := gh.Client(ctx, id)
					if err != nil {
						return nil, err
					}
					return c.Checks, nil
				},
				PublicURL: cfg.PublicURL,
				Logger:    logger,
			},
			Tokens: commitstatus.ForTokens(tokens, cfg.PublicURL, logger),
		},
	}, nil
}

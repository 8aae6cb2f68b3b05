package stacktest

import (
	"crypto/rand"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/jobs"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/secrets"
)

// WorkerOptions change the in-process worker.
type WorkerOptions struct {
	// DeployTimeout is the worker's deployment timeout. If zero, the
	// worker's default.
	DeployTimeout time.Duration
	// WorkDir is where the worker makes its checkouts. If empty, a
	// directory of the test's.
	WorkDir string
	// GitHubPace keeps production's pace of check-run updates (log
	// interval, held-back starts) instead of the tests' quicker one, for
	// tests that count what GitHub is sent.
	GitHubPace bool
}

// StartWorker runs one whole Panda worker in process on the world, built by
// jobs.NewServer exactly as cmd/worker builds it, with the world's services
// behind it and its waits shortened. It stops when the test ends.
func (w *World) StartWorker(o WorkerOptions) *jobs.Server {
	w.t.Helper()
	if o.WorkDir == "" {
		o.WorkDir = w.t.TempDir()
	}
	factory, err := githubapp.New(githubapp.Config{AppID: w.GitHub.AppID(), PrivateKey: w.GitHub.PrivateKeyPEM(), APIURL: w.GitHub.URL()})
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := config.Worker{
		Common:        config.Common{PublicURL: "http://panda.test", GitHub: config.GitHub{URL: w.GitURL, APIURL: w.GitHub.URL()}},
		Concurrency:   4,
		WorkDir:       o.WorkDir,
		DeployTimeout: o.DeployTimeout,
	}
	logEvery := 50 * time.Millisecond
	if o.GitHubPace {
		logEvery = 0 // production's
	}
	srv := jobs.NewServer(cfg, jobs.Deps{
		Redis:   w.Redis(),
		GitHub:  factory,
		Builder: &image.Builder{Engine: w.Docker, NetworkMode: "none"}, // dockerd here runs with --bridge=none
		AWS: &jobs.AWSProvider{Base: w.AWS.Config(), Engine: w.Docker,
			Connections: &connections.Resolver{Store: w.Connections()}},
		Connections: w.Connections(),
		Logger:      w.Logger(),
		Pace: jobs.Pace{
			WaitInterval:    200 * time.Millisecond,
			LogInterval:     logEvery,
			RetryDelay:      func(int, error, *asynq.Task) time.Duration { return 100 * time.Millisecond },
			DelayedCheck:    100 * time.Millisecond,
			ShutdownTimeout: 5 * time.Second,
		},
	})
	if err := srv.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(srv.Shutdown)
	return srv
}

// Connections is the world's store of AWS and GitHub connections, sealed with
// a key of the test's; the in-process worker reads the same store.
func (w *World) Connections() *connections.Store {
	w.t.Helper()
	w.connsOnce.Do(func() {
		key := make([]byte, secrets.KeySize)
		_, _ = rand.Read(key)
		box, err := secrets.New(key)
		if err != nil {
			w.t.Fatal(err)
		}
		w.conns = connections.NewStore(w.Redis(), box)
	})
	return w.conns
}

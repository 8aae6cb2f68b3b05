package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/githubtest"
)

// loadRepo and loadInstallation are whom the load's push deliveries are for:
// the repository of the recorded push payload and the installation the tool
// writes into it.
const (
	loadRepo         = "Codertocat/Hello-World"
	loadInstallation = 42
)

// TestServeGitHub is not a test: bench/load/run.sh runs it (from a compiled
// test binary) to host the GitHub API test server for the worker while the load
// runs, because the server is built for tests. It writes the worker's GitHub
// settings to the file named by PANDA_LOAD_GITHUB_ENV and serves until
// SIGTERM. The repository has no .panda.yml, so each push task costs the
// worker an installation token (cached) and one contents lookup that answers
// 404: the realistic fate of a push to a repository that does not deploy.
func TestServeGitHub(t *testing.T) {
	envFile := os.Getenv("PANDA_LOAD_GITHUB_ENV")
	if envFile == "" {
		t.Skip("run by bench/load/run.sh")
	}
	gh := githubtest.NewServer(t)
	gh.AddInstallation(loadInstallation, loadRepo)
	keyFile := filepath.Join(filepath.Dir(envFile), "github-app.pem")
	if err := os.WriteFile(keyFile, gh.PrivateKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := fmt.Sprintf("GITHUB_APP_ID=%d\nGITHUB_APP_PRIVATE_KEY_FILE=%s\nGITHUB_API_URL=%s\n", gh.AppID(), keyFile, gh.URL())
	if err := os.WriteFile(envFile+".tmp", []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(envFile+".tmp", envFile); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	deadline, ok := t.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Minute)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(deadline) - 5*time.Second):
	}
	t.Logf("GitHub test server answered %d requests", len(gh.Requests()))
}

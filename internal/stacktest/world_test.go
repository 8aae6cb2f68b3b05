package stacktest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/internal/stacktest"
	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
)

// TestPandaYMLIsValid: the shared .panda.yml is one Panda accepts, naming the
// world's own state machine and region, so a test that fails on it fails for
// what it tests.
func TestPandaYMLIsValid(t *testing.T) {
	t.Parallel()
	w := stacktest.New(t, stacktest.Options{NoEngine: true})
	cfg, err := repoconfig.Parse([]byte(w.PandaYML(w.EnvironmentYML("qa", "qa", "qa", "web-qa"))))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Environments) != 2 {
		t.Fatalf("%d environments, want production and qa", len(cfg.Environments))
	}
	for _, env := range cfg.Environments {
		if env.StateMachineARN != w.StateMachineARN || env.Region != w.AWS.Region() || env.DesiredCount != 2 || env.ContainerPort != 8080 {
			t.Errorf("environment %+v", env)
		}
	}
}

// TestCommitServesPandaYML: a commit's .panda.yml is in git and in the
// contents API at that commit, read as the worker reads it (go-github with
// an installation token).
func TestCommitServesPandaYML(t *testing.T) {
	t.Parallel()
	w := stacktest.New(t, stacktest.Options{NoEngine: true})
	yml := w.PandaYML("")
	sha := w.Commit("main", map[string]string{"Dockerfile": "FROM scratch\n"}, yml)
	if len(sha) != 40 {
		t.Fatalf("sha %q", sha)
	}
	apps, err := githubapp.New(githubapp.Config{AppID: w.GitHub.AppID(), PrivateKey: w.GitHub.PrivateKeyPEM(), APIURL: w.GitHub.URL()})
	if err != nil {
		t.Fatal(err)
	}
	gh, err := apps.Client(context.Background(), stacktest.Installation)
	if err != nil {
		t.Fatal(err)
	}
	owner, name, _ := strings.Cut(stacktest.Repo, "/")
	file, _, _, err := gh.Repositories.GetContents(context.Background(), owner, name, ".panda.yml", &github.RepositoryContentGetOptions{Ref: sha})
	if err != nil {
		t.Fatal(err)
	}
	got, err := file.GetContent()
	if err != nil || got != yml {
		t.Errorf("contents API served %q (%v), want the committed file", got, err)
	}
}

// TestWaitFinalNeedsTheFinalEvent: a final record is not done until its
// stream holds the final event, as a user of either would see it.
func TestWaitFinalNeedsTheFinalEvent(t *testing.T) {
	t.Parallel()
	w := stacktest.New(t, stacktest.Options{NoEngine: true})
	sha := strings.Repeat("c", 40)
	dep, _, err := w.Store().Create(context.Background(), "test:"+sha, &store.Deployment{
		ID: store.NewID(), Repo: stacktest.Repo, SHA: sha, Environment: "production", Status: store.StatusSucceeded,
		CreatedAt: time.Now(), StartedAt: time.Now(), EndedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if w.HasFinalEvent(dep.ID) {
		t.Fatal("an empty stream has a final event")
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, _ = w.Store().Append(context.Background(), dep.ID, store.Event{Type: store.EventDone, Message: "Deployment succeeded"})
	}()
	start := time.Now()
	if got := w.WaitFinal(sha, 10*time.Second); got.ID != dep.ID {
		t.Fatalf("WaitFinal = %s, want %s", got.ID, dep.ID)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("WaitFinal returned after %v, before the final event was written", waited)
	}
}

package commitstatus_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/commitstatus"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
)

func TestReporterStates(t *testing.T) {
	t.Parallel()
	gh := githubtest.NewServer(t)
	gh.AddRepo("solo/app")
	sha := strings.Repeat("d", 40)
	gh.SetBranch("solo/app", "main", sha)
	tok := gh.AddPAT(githubtest.PAT{Login: "solo", Repos: []string{"solo/app"}})
	r := &commitstatus.Reporter{
		Clients: func(context.Context, string) (commitstatus.API, error) {
			c, err := github.NewClient(gh.Client()).WithAuthToken(tok).WithEnterpriseURLs(gh.URL(), gh.URL())
			if err != nil {
				return nil, err
			}
			return c.Repositories, nil
		},
		PublicURL: "https://panda.example/", Logger: slog.Default(),
	}
	dep := &store.Deployment{ID: "dep_abcdefghij", Repo: "solo/app", SHA: sha, Environment: "production"}
	ctx := t.Context()
	steps := []struct {
		name string
		do   func() error
		want string // the state written, "" for none
	}{
		{name: "queue", do: func() error { _, err := r.Queue(ctx, dep); return err }, want: "pending"},
		{name: "start", do: func() error { return r.Start(ctx, dep, "clone") }, want: "pending"},
		{name: "log-writes-nothing", do: func() error { return r.Log(ctx, dep, "clone", "line") }},
		{name: "stage-success-stays-pending", do: func() error {
			return r.Finish(ctx, dep, "build", checks.Result{Conclusion: checks.ConclusionSuccess, Title: strings.Repeat("é", 300)})
		}, want: "pending"},
		{name: "cancelled-is-error", do: func() error {
			return r.Finish(ctx, dep, "deploy", checks.Result{Conclusion: checks.ConclusionCancelled, Title: "Cancelled"})
		}, want: "error"},
		{name: "failure", do: func() error { return r.Finish(ctx, dep, "push", checks.Result{Conclusion: checks.ConclusionFailure}) }, want: "failure"},
		{name: "deploy-success", do: func() error { return r.Finish(ctx, dep, "deploy", checks.Result{Conclusion: checks.ConclusionSuccess}) }, want: "success"},
	}
	for _, s := range steps {
		before := len(gh.CommitStatuses("solo/app", sha))
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		all := gh.CommitStatuses("solo/app", sha)
		if s.want == "" {
			if len(all) != before {
				t.Errorf("%s wrote a status", s.name)
			}
			continue
		}
		if len(all) != before+1 {
			t.Fatalf("%s: %d statuses, want %d", s.name, len(all), before+1)
		}
		got := all[len(all)-1]
		if got.State != s.want || got.Context != "panda/deploy" || got.TargetURL != "https://panda.example/deployments/dep_abcdefghij" || len(got.Description) > 140 || !utf8.ValidString(got.Description) {
			t.Errorf("%s: %+v", s.name, got)
		}
	}
}

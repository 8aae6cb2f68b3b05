package githubtest_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/internal/githubtest"
)

func patClient(t *testing.T, s *githubtest.Server, token string) *github.Client {
	t.Helper()
	c, err := github.NewClient(s.Client()).WithAuthToken(token).WithEnterpriseURLs(s.URL(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func status(err error) int {
	var e *github.ErrorResponse
	if errors.As(err, &e) {
		return e.Response.StatusCode
	}
	return 0
}

func TestPATReadsOnlyItsRepositories(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	s.AddRepo("solo/app")
	s.AddRepo("solo/other")
	tok := s.AddPAT(githubtest.PAT{Login: "solo", Repos: []string{"solo/app"}})
	tests := []struct {
		name, token, repo string
		want              int
	}{
		{name: "granted", token: tok, repo: "app", want: 200},
		{name: "not-granted", token: tok, repo: "other", want: 404},
		{name: "unknown-token", token: "github_pat_nope", repo: "app", want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, _, err := patClient(t, s, tt.token).Repositories.Get(t.Context(), "solo", tt.repo)
			if got := status(err); err != nil && got != tt.want || err == nil && tt.want != 200 {
				t.Fatalf("Get = %v (%d), want %d", err, got, tt.want)
			}
			if err == nil && repo.GetFullName() != "solo/app" {
				t.Errorf("full_name %q", repo.GetFullName())
			}
		})
	}
	if !s.TokenCanRead(tok, "solo/app") || s.TokenCanRead(tok, "solo/other") {
		t.Error("TokenCanRead does not follow the token's repositories")
	}
	noStatuses := s.AddPAT(githubtest.PAT{Login: "solo", Repos: []string{"solo/app"}, Permissions: map[string]string{"metadata": "read"}})
	sha := strings.Repeat("a", 40)
	s.SetBranch("solo/app", "main", sha)
	_, _, err := patClient(t, s, noStatuses).Repositories.CreateStatus(t.Context(), "solo", "app", sha, &github.RepoStatus{State: github.String("pending")})
	if status(err) != http.StatusForbidden {
		t.Errorf("status without the statuses permission: %v", err)
	}
}

func TestCreateCommitStatus(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	s.AddRepo("solo/app")
	tok := s.AddPAT(githubtest.PAT{Login: "solo", Repos: []string{"solo/app"}})
	sha := strings.Repeat("b", 40)
	s.SetBranch("solo/app", "main", sha)
	c := patClient(t, s, tok)
	tests := []struct {
		name string
		sha  string
		in   github.RepoStatus
		want int
	}{
		{name: "pending", sha: sha, in: github.RepoStatus{State: github.String("pending"), Context: github.String("panda/deploy"), Description: github.String("Queued")}, want: 201},
		{name: "bad-state", sha: sha, in: github.RepoStatus{State: github.String("running")}, want: 422},
		{name: "missing-state", sha: sha, in: github.RepoStatus{Context: github.String("panda/deploy")}, want: 422},
		{name: "long-description", sha: sha, in: github.RepoStatus{State: github.String("success"), Description: github.String(strings.Repeat("x", 141))}, want: 422},
		{name: "unknown-commit", sha: strings.Repeat("c", 40), in: github.RepoStatus{State: github.String("success")}, want: 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := c.Repositories.CreateStatus(t.Context(), "solo", "app", tt.sha, &tt.in)
			if code := status(err); err != nil && code != tt.want || err == nil && tt.want != 201 {
				t.Fatalf("CreateStatus = %v (%d), want %d", err, code, tt.want)
			}
			if err == nil && (got.GetCreator().GetLogin() != "solo" || got.GetContext() != "panda/deploy") {
				t.Errorf("status = %+v", got)
			}
		})
	}
	// 1000 per sha and context; the default context counts apart.
	for i := 1; i < 1000; i++ {
		if _, _, err := c.Repositories.CreateStatus(t.Context(), "solo", "app", sha, &github.RepoStatus{State: github.String("pending"), Context: github.String("panda/deploy")}); err != nil {
			t.Fatalf("status %d: %v", i+1, err)
		}
	}
	if _, _, err := c.Repositories.CreateStatus(t.Context(), "solo", "app", sha, &github.RepoStatus{State: github.String("success"), Context: github.String("panda/deploy")}); status(err) != 422 {
		t.Errorf("status 1001: %v, want 422", err)
	}
	if _, _, err := c.Repositories.CreateStatus(t.Context(), "solo", "app", sha, &github.RepoStatus{State: github.String("success")}); err != nil {
		t.Errorf("another context: %v", err)
	}
	if n := len(s.CommitStatuses("solo/app", sha)); n != 1001 {
		t.Errorf("%d statuses kept, want 1001", n)
	}
}

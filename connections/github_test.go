package connections_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/internal/githubtest"
)

// TestVerifyToken checks connect/github's check of a token: it must read the
// repository, and a refusal says why without echoing the token.
func TestVerifyToken(t *testing.T) {
	t.Parallel()
	gh := githubtest.NewServer(t)
	gh.AddRepo("solo/app")
	gh.AddRepo("solo/private")
	good := gh.AddPAT(githubtest.PAT{Login: "solo", Repos: []string{"solo/app"}})
	revoked := gh.AddPAT(githubtest.PAT{Login: "solo", Repos: []string{"solo/app"}})
	gh.RevokePAT(revoked)
	v := &connections.GitHubTokens{APIURL: gh.URL(), HTTPClient: gh.Client()}
	tests := []struct {
		name, repo, token string
		wantErr           error
	}{
		{name: "can-read", repo: "solo/app", token: good},
		{name: "bad-token", repo: "solo/app", token: "github_pat_0123456789abcdef", wantErr: connections.ErrTokenRejected},
		{name: "revoked", repo: "solo/app", token: revoked, wantErr: connections.ErrTokenRejected},
		{name: "no-access", repo: "solo/private", token: good, wantErr: connections.ErrNoAccess},
		{name: "no-such-repo", repo: "solo/none", token: good, wantErr: connections.ErrNoAccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := v.Verify(t.Context(), tt.repo, tt.token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), tt.token) || !strings.Contains(err.Error(), tt.repo)) {
				t.Errorf("error %q echoes the token or does not name the repository", err)
			}
		})
	}
}

// TestCloneTokens checks the token a deployment without an installation
// clones with is its repository's stored token, and that there is none once
// the connection is gone.
func TestCloneTokens(t *testing.T) {
	t.Parallel()
	s := newStore(t, true)
	ctx := t.Context()
	if err := s.PutGitHub(ctx, connections.GitHub{ID: "conn_abc123def456", Repo: "solo/app", Branch: "main", Token: "github_pat_x"}); err != nil {
		t.Fatal(err)
	}
	ct := connections.CloneTokens{Tokens: &connections.GitHubTokens{Store: s}}
	tok, err := ct.RepoToken(ctx, 0, "solo/app")
	if err != nil || tok.Value != "github_pat_x" {
		t.Fatalf("RepoToken = %v, %v", tok, err)
	}
	c, err := s.GitHubByID(ctx, "conn_abc123def456")
	if err != nil || c.Repo != "solo/app" || c.Branch != "main" || c.Token != config.Secret("github_pat_x") {
		t.Errorf("GitHubByID = %+v, %v", c, err)
	}
	if err := s.DeleteGitHub(ctx, "solo/app"); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.RepoToken(ctx, 0, "solo/app"); !errors.Is(err, connections.ErrNotFound) {
		t.Errorf("after deletion: %v", err)
	}
	if _, err := s.GitHubByID(ctx, "conn_abc123def456"); !errors.Is(err, connections.ErrNotFound) {
		t.Errorf("by id after deletion: %v", err)
	}
}

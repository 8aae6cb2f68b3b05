package connections

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/githubapp"
)

// Why a token was refused at connect time. The errors name the repository and
// GitHub's status, never the token.
var (
	// ErrTokenRejected: GitHub answered 401, the token is wrong, expired or revoked.
	ErrTokenRejected = errors.New("GitHub refused the token (401 Bad credentials): it is wrong, expired or revoked")
	// ErrNoAccess: GitHub answered 404 (or 403): the token is valid but cannot
	// read the repository, or the repository does not exist. GitHub answers
	// 404 rather than 403 for a private repository a token cannot see, so
	// the two cannot be told apart.
	ErrNoAccess = errors.New("the token cannot read the repository")
)

// GitHubTokens makes go-github clients that authenticate with a token
// ("Authorization: Bearer", as GitHub documents for personal access tokens),
// and verifies a token before it is stored. It is the non-App way in.
type GitHubTokens struct {
	// APIURL is GITHUB_API_URL. If empty or githubapp.DefaultAPIURL, GitHub.com.
	APIURL string
	// HTTPClient is the transport under every client. If nil, http.DefaultClient.
	HTTPClient *http.Client
	// Store holds the tokens, for Client and RepoToken.
	Store *Store
}

// client returns a client authenticated by token.
func (g *GitHubTokens) client(token string) (*github.Client, error) {
	c := github.NewClient(g.HTTPClient).WithAuthToken(token)
	if g.APIURL == "" || strings.TrimSuffix(g.APIURL, "/") == githubapp.DefaultAPIURL {
		return c, nil
	}
	c, err := c.WithEnterpriseURLs(g.APIURL, g.APIURL)
	if err != nil {
		return nil, fmt.Errorf("parse github api url: %w", err)
	}
	return c, nil
}

// Verify checks that token may read repo (GET /repos/{owner}/{repo}). A
// refusal wraps ErrTokenRejected or ErrNoAccess; any other error (network,
// 5xx) is worth a retry.
func (g *GitHubTokens) Verify(ctx context.Context, repo, token string) error {
	c, err := g.client(token)
	if err != nil {
		return err
	}
	owner, name, _ := strings.Cut(repo, "/")
	_, resp, err := c.Repositories.Get(ctx, owner, name)
	if err == nil {
		return nil
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	switch status {
	case http.StatusUnauthorized:
		return fmt.Errorf("connect %s: %w", repo, ErrTokenRejected)
	case http.StatusNotFound, http.StatusForbidden:
		return fmt.Errorf("connect %s: %w (GitHub answered %d: the repository does not exist or the token was not granted access to it)", repo, ErrNoAccess, status)
	}
	// go-github's error names the URL and GitHub's message; the token is
	// in a header, not in either.
	return fmt.Errorf("verify token for %s: %w", repo, err)
}

// Client returns a client authenticated by the token connection of repo.
// ErrNotFound when repo has no token connection.
func (g *GitHubTokens) Client(ctx context.Context, repo string) (*github.Client, error) {
	tok, err := g.token(ctx, repo)
	if err != nil {
		return nil, err
	}
	return g.client(tok)
}

func (g *GitHubTokens) token(ctx context.Context, repo string) (string, error) {
	c, err := g.Store.GitHub(ctx, repo)
	if err != nil {
		return "", err
	}
	if c.Token == "" {
		return "", fmt.Errorf("connection %s has no token: %w", repo, ErrNotFound)
	}
	return c.Token.Reveal(), nil
}

// AppTokens gives repository-scoped installation tokens; *githubapp.Factory has it.
type AppTokens interface {
	RepoToken(ctx context.Context, installationID int64, repo string) (githubapp.Token, error)
}

// CloneTokens gives the token a deployment clones with: the App's
// installation token, or for a deployment without an installation (0) the
// token of its repository's token connection.
type CloneTokens struct {
	App    AppTokens
	Tokens *GitHubTokens
}

// RepoToken is AppTokens.RepoToken, falling back to the token connection.
func (c CloneTokens) RepoToken(ctx context.Context, installationID int64, repo string) (githubapp.Token, error) {
	if installationID != 0 {
		return c.App.RepoToken(ctx, installationID, repo)
	}
	tok, err := c.Tokens.token(ctx, repo)
	if err != nil {
		return githubapp.Token{}, err
	}
	return githubapp.Token{Value: tok}, nil
}

// VerifyGitHub is Verify for the API's connect/github: a connection with a
// token must be able to read its repository (an App connection has no token
// to verify).
func (g *GitHubTokens) VerifyGitHub(ctx context.Context, c GitHub) error {
	if c.Token == "" {
		return nil
	}
	return g.Verify(ctx, c.Repo, c.Token.Reveal())
}

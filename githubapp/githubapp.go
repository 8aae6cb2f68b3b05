// Package githubapp builds GitHub API clients for a GitHub App: one client per
// installation, repository-scoped installation tokens for git, and a client
// authenticated as the App itself.
package githubapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v66/github"
	"golang.org/x/sync/singleflight"

	"github.com/pandadeploy/panda/redact"
)

// DefaultAPIURL is GitHub.com's REST API.
const DefaultAPIURL = "https://api.github.com"

// Config configures a Factory.
type Config struct {
	// AppID is the GitHub App's id.
	AppID int64
	// PrivateKey is the App's private key in PEM form.
	PrivateKey []byte
	// APIURL is the REST API root. If empty or DefaultAPIURL, GitHub.com;
	// otherwise a GitHub Enterprise Server root such as https://ghe.example.com
	// (go-github adds /api/v3/ when it is missing).
	APIURL string
	// HTTPClient supplies the transport and timeout under every client. If nil,
	// http.DefaultTransport with no timeout.
	HTTPClient *http.Client
	// Retry bounds the retries of 5xx and rate-limited answers.
	Retry RetryPolicy
	// Redactor, if set, learns every installation token GitHub issues to
	// this Factory (for its own clients and for RepoToken), so a token
	// echoed by git or a build step is redacted by value wherever the
	// Redactor is used.
	Redactor *redact.Redactor
}

// Factory hands out GitHub clients for one App. It is safe for concurrent use.
type Factory struct {
	appID   int64
	key     []byte
	base    http.RoundTripper                    // retrying transport under every client
	wrap    func(http.RoundTripper) *http.Client // applies HTTPClient's timeout
	apiBase string                               // REST root with trailing slash, as go-github resolves it
	app     *github.Client

	mu      sync.Mutex
	clients map[int64]*github.Client
	tokens  map[tokenKey]Token
	flight  singleflight.Group
}

// New returns a Factory for cfg. It fails when the key cannot be parsed or the
// API URL is malformed; it makes no request.
func New(cfg Config) (*Factory, error) {
	if cfg.AppID <= 0 {
		return nil, errors.New("new github app factory: app id must be positive")
	}
	inner := http.DefaultTransport
	client := func(rt http.RoundTripper) *http.Client { return &http.Client{Transport: rt} }
	if cfg.HTTPClient != nil {
		if cfg.HTTPClient.Transport != nil {
			inner = cfg.HTTPClient.Transport
		}
		timeout := cfg.HTTPClient.Timeout
		client = func(rt http.RoundTripper) *http.Client { return &http.Client{Transport: rt, Timeout: timeout} }
	}
	f := &Factory{
		appID: cfg.AppID, key: cfg.PrivateKey, wrap: client,
		// Retries sit under the token transports, so token fetches retry too.
		base:    learnTokens(newRetryTransport(inner, cfg.Retry), cfg.Redactor),
		clients: map[int64]*github.Client{},
		tokens:  map[tokenKey]Token{},
	}
	atr, err := ghinstallation.NewAppsTransport(f.base, cfg.AppID, cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("parse github app private key: %w", err)
	}
	f.app, err = f.newClient(cfg.APIURL, atr)
	if err != nil {
		return nil, err
	}
	f.apiBase = f.app.BaseURL.String()
	atr.BaseURL = strings.TrimSuffix(f.apiBase, "/")
	return f, nil
}

// newClient returns a go-github client over rt for apiURL.
func (f *Factory) newClient(apiURL string, rt http.RoundTripper) (*github.Client, error) {
	c := github.NewClient(f.wrap(rt))
	if apiURL == "" || strings.TrimSuffix(apiURL, "/") == DefaultAPIURL {
		return c, nil
	}
	c, err := c.WithEnterpriseURLs(apiURL, apiURL)
	if err != nil {
		return nil, fmt.Errorf("parse github api url: %w", err)
	}
	return c, nil
}

// AppClient returns the client authenticated as the App itself (a JWT signed
// with the App key), for /app routes such as hook deliveries.
func (f *Factory) AppClient() *github.Client { return f.app }

// Client returns the client for installationID, creating it on first use.
// Its installation token is fetched on the first request and refreshed by
// ghinstallation shortly before it expires; repeated calls return the same
// client. ctx is only checked, as creating a client makes no request.
func (f *Factory) Client(ctx context.Context, installationID int64) (*github.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("github client for installation %d: %w", installationID, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[installationID]; ok {
		return c, nil
	}
	itr, err := ghinstallation.New(f.base, f.appID, installationID, f.key)
	if err != nil {
		return nil, fmt.Errorf("github client for installation %d: %w", installationID, err)
	}
	itr.BaseURL = strings.TrimSuffix(f.apiBase, "/")
	c := github.NewClient(f.wrap(itr))
	base, upload := *f.app.BaseURL, *f.app.UploadURL
	c.BaseURL, c.UploadURL = &base, &upload
	f.clients[installationID] = c
	return c, nil
}

package githubapp

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"
)

// tokenReuseMargin is how long before its expiry a cached repository token is
// replaced, so that a clone started with it does not outlive it.
const tokenReuseMargin = 5 * time.Minute

// Token is an installation access token. It redacts itself in String, in
// slog and in JSON, so it never leaks into logs, errors or stored payloads;
// read Value only where the secret is handed to git.
type Token struct {
	Value     string
	ExpiresAt time.Time
}

// String returns "[REDACTED]".
func (Token) String() string { return "[REDACTED]" }

// GoString returns "[REDACTED]", so %#v does not print the value either.
func (Token) GoString() string { return "[REDACTED]" }

// LogValue implements slog.LogValuer: only the expiry is logged.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("value", "[REDACTED]"), slog.Time("expires_at", t.ExpiresAt))
}

// MarshalJSON writes "[REDACTED]": a token must never be persisted.
func (Token) MarshalJSON() ([]byte, error) { return []byte(`"[REDACTED]"`), nil }

type tokenKey struct {
	installationID int64
	repo           string
}

// RepoToken returns an installation token that can only read the contents of
// repo ("owner/name"), for git over HTTPS. Scoping the token to one repository
// and to contents:read means a token that leaks from a build cannot touch any
// other repository of the installation, nor write anything. Tokens are cached
// per installation and repository until five minutes before they expire;
// concurrent calls for the same pair share one request.
func (f *Factory) RepoToken(ctx context.Context, installationID int64, repo string) (Token, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return Token{}, fmt.Errorf("repository token: %q is not owner/name", repo)
	}
	key := tokenKey{installationID: installationID, repo: strings.ToLower(repo)}
	if tok, ok := f.cachedToken(key); ok {
		return tok, nil
	}
	flightKey := strconv.FormatInt(installationID, 10) + " " + key.repo
	v, err, _ := f.flight.Do(flightKey, func() (any, error) {
		if tok, ok := f.cachedToken(key); ok {
			return tok, nil
		}
		tok, err := f.createRepoToken(ctx, installationID, name)
		if err != nil {
			return Token{}, err
		}
		f.mu.Lock()
		f.tokens[key] = tok
		f.mu.Unlock()
		return tok, nil
	})
	if err != nil {
		return Token{}, fmt.Errorf("repository token for %s (installation %d): %w", repo, installationID, err)
	}
	return v.(Token), nil
}

func (f *Factory) cachedToken(key tokenKey) (Token, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := f.tokens[key]
	if !ok || time.Until(tok.ExpiresAt) <= tokenReuseMargin {
		return Token{}, false
	}
	return tok, true
}

func (f *Factory) createRepoToken(ctx context.Context, installationID int64, name string) (Token, error) {
	it, _, err := f.app.Apps.CreateInstallationToken(ctx, installationID, &github.InstallationTokenOptions{
		Repositories: []string{name},
		Permissions:  &github.InstallationPermissions{Contents: github.String("read")},
	})
	if err != nil {
		return Token{}, fmt.Errorf("create installation token: %w", err)
	}
	return Token{Value: it.GetToken(), ExpiresAt: it.GetExpiresAt().Time}, nil
}

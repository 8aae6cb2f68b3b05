package githubapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/redact"
	"github.com/pandadeploy/panda/retry"
)

const headSHA = "0123456789abcdef0123456789abcdef01234567"

func setup(t *testing.T, apiURL func(*githubtest.Server) string) (*githubtest.Server, *githubapp.Factory) {
	t.Helper()
	s := githubtest.NewServer(t)
	s.AddInstallation(7, "octo-org/app", "octo-org/other")
	s.AddInstallation(8, "someone/else")
	return s, newFactory(t, s, apiURL)
}

// newFactory returns a Factory for the App s plays.
func newFactory(t *testing.T, s *githubtest.Server, apiURL func(*githubtest.Server) string) *githubapp.Factory {
	t.Helper()
	f, err := githubapp.New(githubapp.Config{
		AppID: s.AppID(), PrivateKey: s.PrivateKeyPEM(), APIURL: apiURL(s),
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Retry:      githubapp.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxAttempts: 3},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

func rootURL(s *githubtest.Server) string { return s.URL() }

func TestNew(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	tests := []struct {
		name    string
		cfg     githubapp.Config
		wantErr bool
		wantURL string
	}{
		{name: "github_com_by_default", cfg: githubapp.Config{AppID: 1, PrivateKey: s.PrivateKeyPEM()}, wantURL: "https://api.github.com/"},
		{name: "github_com_named", cfg: githubapp.Config{AppID: 1, PrivateKey: s.PrivateKeyPEM(), APIURL: "https://api.github.com/"}, wantURL: "https://api.github.com/"},
		{name: "enterprise", cfg: githubapp.Config{AppID: 1, PrivateKey: s.PrivateKeyPEM(), APIURL: "https://ghe.example.com"}, wantURL: "https://ghe.example.com/api/v3/"},
		{name: "bad_key", cfg: githubapp.Config{AppID: 1, PrivateKey: []byte("not a key")}, wantErr: true},
		{name: "no_app_id", cfg: githubapp.Config{PrivateKey: s.PrivateKeyPEM()}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := githubapp.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New: err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && f.AppClient().BaseURL.String() != tt.wantURL {
				t.Fatalf("BaseURL = %s, want %s", f.AppClient().BaseURL, tt.wantURL)
			}
		})
	}
}

func TestClientPerInstallation(t *testing.T) {
	t.Parallel()
	for _, layout := range []struct {
		name       string
		apiURL     func(*githubtest.Server) string
		enterprise bool
	}{
		{name: "root", apiURL: rootURL, enterprise: true}, // go-github adds /api/v3/ to a non-GitHub.com host
		{name: "api_v3", apiURL: func(s *githubtest.Server) string { return s.URL() + "/api/v3" }, enterprise: true},
	} {
		t.Run(layout.name, func(t *testing.T) {
			t.Parallel()
			s, f := setup(t, layout.apiURL)
			ctx := context.Background()
			c7, err := f.Client(ctx, 7)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := f.Client(ctx, 7)
			c8, _ := f.Client(ctx, 8)
			if c7 != again || c7 == c8 {
				t.Fatalf("clients: same installation %p/%p, other installation %p", c7, again, c8)
			}
			for range 2 {
				if _, _, err := c7.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{Name: "panda/build", HeadSHA: headSHA}); err != nil {
					t.Fatalf("CreateCheckRun: %v", err)
				}
			}
			if _, _, err := c8.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA}); err == nil {
				t.Fatal("installation 8 wrote to installation 7's repository")
			}
			if n := s.TokensIssued(); n != 2 {
				t.Errorf("tokens issued = %d, want 2 (one per installation)", n)
			}
			if got := len(s.CheckRuns("octo-org/app")); got != 2 {
				t.Errorf("check runs = %d, want 2", got)
			}
			for _, r := range s.Requests() {
				if r.Enterprise != layout.enterprise {
					t.Fatalf("request %s %s: enterprise = %v", r.Method, r.Path, r.Enterprise)
				}
			}
		})
	}
}

func TestClientContextCanceled(t *testing.T) {
	t.Parallel()
	_, f := setup(t, rootURL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Client(ctx, 7); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestAppClientHookDeliveries(t *testing.T) {
	t.Parallel()
	s, f := setup(t, rootURL)
	id := s.AddHookDelivery(githubtest.HookDelivery{Event: "push", StatusCode: 500, Status: "Internal Server Error"})
	ds, _, err := f.AppClient().Apps.ListHookDeliveries(context.Background(), nil)
	if err != nil || len(ds) != 1 || ds[0].GetID() != id {
		t.Fatalf("ListHookDeliveries = %v, %v", ds, err)
	}
}

// rawGet requests path with an installation token and returns the status.
func rawGet(t *testing.T, s *githubtest.Server, token, path string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	req.Header.Set("Authorization", "token "+token)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRepoToken(t *testing.T) {
	t.Parallel()
	s, f := setup(t, rootURL)
	ctx := context.Background()
	tok, err := f.RepoToken(ctx, 7, "octo-org/app")
	if err != nil {
		t.Fatalf("RepoToken: %v", err)
	}
	if !strings.HasPrefix(tok.Value, "ghs_") || time.Until(tok.ExpiresAt) < 55*time.Minute {
		t.Fatalf("token expires %v", tok.ExpiresAt)
	}
	// Scoped: no other repository, no permission but contents:read.
	if got := rawGet(t, s, tok.Value, "/repos/octo-org/other/pulls/1"); got != http.StatusNotFound {
		t.Errorf("other repository: status %d, want 404", got)
	}
	if got := rawGet(t, s, tok.Value, "/repos/octo-org/app/pulls/1"); got != http.StatusForbidden {
		t.Errorf("pull request read: status %d, want 403", got)
	}
	again, err := f.RepoToken(ctx, 7, "octo-org/app")
	if err != nil || again.Value != tok.Value || s.TokensIssued() != 1 {
		t.Fatalf("second call: %v, issued %d; want the cached token", err, s.TokensIssued())
	}
	other, err := f.RepoToken(ctx, 7, "octo-org/other")
	if err != nil || other.Value == tok.Value {
		t.Fatalf("other repository: %v; want a different token", err)
	}
	if _, err := f.RepoToken(ctx, 7, "someone/else"); err == nil {
		t.Fatal("token for a repository outside the installation")
	}
	if _, err := f.RepoToken(ctx, 7, "../x"); err == nil {
		t.Fatal("token for a malformed repository")
	}
}

func TestRepoTokenRenewedNearExpiry(t *testing.T) {
	t.Parallel()
	s, f := setup(t, rootURL)
	s.SetTokenTTL(4 * time.Minute) // inside the five-minute margin
	ctx := context.Background()
	a, err := f.RepoToken(ctx, 7, "octo-org/app")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.RepoToken(ctx, 7, "octo-org/app")
	if err != nil || a.Value == b.Value || s.TokensIssued() != 2 {
		t.Fatalf("second call reused a token about to expire (err %v, issued %d)", err, s.TokensIssued())
	}
}

func TestTokenRedacted(t *testing.T) {
	t.Parallel()
	tok := githubapp.Token{Value: "ghs_supersecret", ExpiresAt: time.Now()}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("clone", "token", tok)
	js, _ := json.Marshal(struct{ T githubapp.Token }{tok})
	err := fmt.Errorf("clone with %v: %w", tok, errors.New("x"))
	for name, out := range map[string]string{
		"fmt":   fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok),
		"slog":  logs.String(),
		"json":  string(js),
		"error": err.Error(),
	} {
		if strings.Contains(out, "supersecret") || !strings.Contains(out, "[REDACTED]") {
			t.Errorf("%s output %q leaks or does not redact the token", name, out)
		}
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		faults   []githubtest.Fault
		wantErr  bool
		wantTry  int
		minDelay time.Duration
		wantWait time.Duration // a surfaced *retry.WaitError asks at least this
	}{
		// A create behind a 5xx may have happened (githubtest.CreatedThen502):
		// it is not replayed, the caller looks it up.
		{name: "bad_gateway_not_replayed", faults: []githubtest.Fault{{Status: 502}}, wantErr: true, wantTry: 1},
		{name: "secondary_rate_limit", faults: []githubtest.Fault{githubtest.SecondaryRateLimit(time.Second)}, wantTry: 2, minDelay: time.Second},
		{name: "primary_rate_limit", faults: []githubtest.Fault{githubtest.PrimaryRateLimit(time.Now())}, wantTry: 2, minDelay: 500 * time.Millisecond},
		{name: "primary_rate_limit_far_away", faults: []githubtest.Fault{githubtest.PrimaryRateLimit(time.Now().Add(time.Hour))}, wantErr: true, wantTry: 1, wantWait: 59 * time.Minute},
		{name: "primary_rate_limit_429", faults: []githubtest.Fault{primary429(time.Now().Add(20 * time.Minute))}, wantErr: true, wantTry: 1, wantWait: 19 * time.Minute},
		{name: "secondary_long_retry_after", faults: []githubtest.Fault{githubtest.SecondaryRateLimit(10 * time.Minute)}, wantErr: true, wantTry: 1, wantWait: 10 * time.Minute},
		{name: "secondary_without_retry_after", faults: []githubtest.Fault{githubtest.SecondaryRateLimit(0)}, wantErr: true, wantTry: 1, wantWait: time.Minute},
		{name: "bare_429", faults: []githubtest.Fault{githubtest.TooManyRequests()}, wantErr: true, wantTry: 1, wantWait: time.Minute},
		// A create is replayed only behind a rate limit (GitHub refused it
		// unread), and only MaxAttempts times; then the wait is surfaced.
		{name: "attempts_bounded", faults: []githubtest.Fault{secondaryAfter(time.Second), secondaryAfter(time.Second), secondaryAfter(time.Second), secondaryAfter(time.Second)}, wantErr: true, wantTry: 3, wantWait: time.Second},
		{name: "plain_forbidden_not_retried", faults: []githubtest.Fault{{Status: 403}}, wantErr: true, wantTry: 1},
		{name: "not_found_not_retried", faults: []githubtest.Fault{{Status: 404}}, wantErr: true, wantTry: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, f := setup(t, rootURL)
			ctx := context.Background()
			c, _ := f.Client(ctx, 7)
			warm(t, c)
			for _, fault := range tt.faults {
				s.FailNext(1, fault)
			}
			start := time.Now()
			_, _, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{Name: "panda/build", HeadSHA: headSHA})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var w *retry.WaitError
			if got := errors.As(err, &w); got != (tt.wantWait > 0) || (got && w.Wait < tt.wantWait) {
				t.Fatalf("err = %v, want a wait of at least %v: %v", err, tt.wantWait, tt.wantWait > 0)
			}
			if d := time.Since(start); tt.wantWait > 0 && d > 10*time.Second {
				t.Errorf("a long wait held the request for %v", d)
			}
			if d := time.Since(start); d < tt.minDelay {
				t.Errorf("retried after %v, want at least %v", d, tt.minDelay)
			}
			var bodies []string
			for _, r := range s.Requests() {
				if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/check-runs") {
					bodies = append(bodies, string(r.Body))
				}
			}
			if len(bodies) != tt.wantTry {
				t.Fatalf("tries = %d, want %d", len(bodies), tt.wantTry)
			}
			for _, b := range bodies {
				if b != bodies[0] || !strings.Contains(b, "panda/build") {
					t.Fatalf("replayed body %q differs from %q", b, bodies[0])
				}
			}
			if runs := len(s.CheckRuns("octo-org/app")); runs != 1 && !tt.wantErr {
				t.Errorf("check runs created = %d, want 1", runs)
			}
		})
	}
}

// warm makes the client fetch its installation token, so faults hit the
// request under test rather than the token request.
func warm(t *testing.T, c *github.Client) {
	t.Helper()
	if _, _, err := c.Checks.ListCheckRunsForRef(context.Background(), "octo-org", "app", headSHA, nil); err != nil {
		t.Fatalf("warm up: %v", err)
	}
}

func TestRetryTokenFetch(t *testing.T) {
	t.Parallel()
	s, f := setup(t, rootURL)
	s.FailNext(2, githubtest.Fault{Status: 502})
	if _, err := f.RepoToken(context.Background(), 7, "octo-org/app"); err != nil {
		t.Fatalf("RepoToken through two 502s: %v", err)
	}
}

func TestRetryWaitRespectsContext(t *testing.T) {
	t.Parallel()
	s, f := setup(t, rootURL)
	c, _ := f.Client(context.Background(), 7)
	warm(t, c)
	// 4 s is within the default MaxDelay, so the transport waits in the request.
	s.FailNext(1, githubtest.SecondaryRateLimit(4*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := c.Checks.ListCheckRunsForRef(ctx, "octo-org", "app", headSHA, nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v, want the context's deadline promptly", err, time.Since(start))
	}
}

// TestRetryIdempotentThrough5xx: an update may be sent again after a 5xx, it
// cannot do anything twice.
func TestRetryIdempotentThrough5xx(t *testing.T) {
	t.Parallel()
	s, f := setup(t, rootURL)
	ctx := context.Background()
	c, _ := f.Client(ctx, 7)
	cr, _, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{Name: "panda/build", HeadSHA: headSHA})
	if err != nil {
		t.Fatal(err)
	}
	s.FailNext(1, githubtest.Fault{Status: 502})
	s.FailNext(1, githubtest.Fault{Status: 503})
	if _, _, err := c.Checks.UpdateCheckRun(ctx, "octo-org", "app", cr.GetID(), github.UpdateCheckRunOptions{Name: "panda/build", Status: github.String("in_progress")}); err != nil {
		t.Fatalf("UpdateCheckRun through a 502 and a 503: %v", err)
	}
	if got := s.CheckRuns("octo-org/app"); len(got) != 1 || got[0].Status != "in_progress" {
		t.Fatalf("check runs = %+v", got)
	}
}

// TestRedactorLearnsIssuedTokens: every token GitHub issues, in its stateless
// ghs_APPID_JWT form, is redacted by value from then on.
func TestRedactorLearnsIssuedTokens(t *testing.T) {
	t.Parallel()
	s := githubtest.NewServer(t)
	s.AddInstallation(7, "octo-org/app")
	var r redact.Redactor
	f, err := githubapp.New(githubapp.Config{
		AppID: s.AppID(), PrivateKey: s.PrivateKeyPEM(), APIURL: s.URL(),
		HTTPClient: &http.Client{Timeout: 10 * time.Second}, Redactor: &r,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.RepoToken(context.Background(), 7, "octo-org/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Value) < 500 {
		t.Fatalf("token of %d characters; the server issues the stateless format", len(tok.Value))
	}
	got := r.String("remote: invalid credentials " + tok.Value + " for octo-org/app")
	if want := "remote: invalid credentials [REDACTED] for octo-org/app"; got != want {
		t.Fatalf("String(...) = %q, want %q", got, want)
	}
	if r.String(tok.Value[:len(tok.Value)-1]) == tok.Value[:len(tok.Value)-1] {
		t.Fatal("a token cut short is not redacted; the patterns should still catch it")
	}
}

func secondaryAfter(d time.Duration) githubtest.Fault {
	f := githubtest.SecondaryRateLimit(d)
	f.Status = http.StatusTooManyRequests
	return f
}

func primary429(reset time.Time) githubtest.Fault {
	f := githubtest.PrimaryRateLimit(reset)
	f.Status = http.StatusTooManyRequests
	return f
}

// TestSpentBudgetDelaysTheTask follows a primary budget from GitHub's headers
// to the task's retry delay: once an answer says the budget is spent,
// go-github refuses the next call itself, and the worker's RetryDelayFunc
// (retry.DelayFunc with RateLimitWait) waits for the reset.
func TestSpentBudgetDelaysTheTask(t *testing.T) {
	t.Parallel()
	s, f := setup(t, rootURL)
	reset := time.Now().Add(25 * time.Minute).Truncate(time.Second)
	s.SetRateLimit(1, reset)
	ctx := context.Background()
	c, _ := f.Client(ctx, 7)
	warm(t, c) // spends the budget's last request
	before := len(s.Requests())
	_, _, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{Name: "panda/build", HeadSHA: headSHA})
	if err == nil || len(s.Requests()) != before {
		t.Fatalf("err = %v after %d requests, want go-github's refusal without a request", err, len(s.Requests())-before)
	}
	task := fmt.Errorf("create check run: %w", err)
	delay := retry.DelayFunc(githubapp.RateLimitWait)
	if d := delay(0, task, nil); d < time.Until(reset) || d > time.Until(reset)+time.Minute {
		t.Fatalf("delay = %v, want until the reset in %v", d, time.Until(reset).Round(time.Second))
	}
	// A fresh client, which has not seen the headers, gets the server's 403:
	// surfaced by the transport as a wait that plain retry.Delay honours.
	f2 := newFactory(t, s, rootURL)
	c2, _ := f2.Client(ctx, 7)
	_, _, err = c2.Checks.ListCheckRunsForRef(ctx, "octo-org", "app", headSHA, nil)
	if d := retry.Delay(0, err, nil); d < time.Until(reset) || d > time.Until(reset)+time.Minute {
		t.Fatalf("err = %v, delay = %v, want until the reset", err, d)
	}
}

func TestRateLimitWait(t *testing.T) {
	t.Parallel()
	if w := githubapp.RateLimitWait(errors.New("dial tcp: refused")); w != nil {
		t.Errorf("RateLimitWait(network error) = %+v", w)
	}
	after := 90 * time.Second
	w := githubapp.RateLimitWait(fmt.Errorf("x: %w", &github.AbuseRateLimitError{RetryAfter: &after}))
	if w == nil || w.Wait != after || w.Grow {
		t.Errorf("secondary with Retry-After: %+v", w)
	}
	w = githubapp.RateLimitWait(&github.AbuseRateLimitError{})
	if w == nil || w.Wait != time.Minute || !w.Grow {
		t.Errorf("secondary without Retry-After: %+v", w)
	}
}

// TestTooLarge reads files through the contents API of a server that sizes
// them as GitHub does: only the refusal of a file over 1 MB is "too large".
func TestTooLarge(t *testing.T) {
	t.Parallel()
	s, f := setup(t, rootURL)
	s.SetFile("octo-org/app", headSHA, "big.yml", bytes.Repeat([]byte("#"), 1_000_001))
	s.SetFile("octo-org/app", headSHA, "small.yml", []byte("environments: {}\n"))
	ctx := context.Background()
	c, _ := f.Client(ctx, 7)
	opts := &github.RepositoryContentGetOptions{Ref: headSHA}
	for _, tt := range []struct {
		repo, path string
		want       bool
	}{
		{repo: "app", path: "big.yml", want: true},
		{repo: "app", path: "small.yml"},
		{repo: "app", path: "missing.yml"},
		{repo: "nope", path: "small.yml"}, // not the installation's: refused, but not for size
	} {
		file, _, _, err := c.Repositories.GetContents(ctx, "octo-org", tt.repo, tt.path, opts)
		if got := githubapp.TooLarge(file, err); got != tt.want {
			t.Errorf("TooLarge(%s/%s) = %v (err %v), want %v", tt.repo, tt.path, got, err, tt.want)
		}
	}
	none := "none"
	if !githubapp.TooLarge(&github.RepositoryContent{Encoding: &none}, nil) {
		t.Error(`an answer with encoding "none" is not too large`)
	}
}

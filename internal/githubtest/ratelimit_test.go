package githubtest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/internal/githubtest"
)

// TestRateLimitAnswers reads each rate-limit answer through go-github, which
// classifies GitHub's answers itself (CheckResponse): what it makes of them is
// what GitHub's real answers make of it.
func TestRateLimitAnswers(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	primary429 := githubtest.PrimaryRateLimit(reset)
	primary429.Status = http.StatusTooManyRequests
	tests := []struct {
		name  string
		fault githubtest.Fault
		check func(t *testing.T, err error)
	}{
		{name: "primary", fault: githubtest.PrimaryRateLimit(reset), check: func(t *testing.T, err error) {
			var rl *github.RateLimitError
			if !errors.As(err, &rl) || rl.Rate.Remaining != 0 || !rl.Rate.Reset.Time.Equal(reset) {
				t.Fatalf("err = %v, want a primary rate limit resetting at %v", err, reset)
			}
		}},
		{name: "primary_429", fault: primary429, check: func(t *testing.T, err error) {
			// go-github classifies only 403s; a 429 stays an ErrorResponse with the headers.
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != 429 || er.Response.Header.Get("X-Ratelimit-Remaining") != "0" {
				t.Fatalf("err = %v, want a 429 with x-ratelimit-remaining: 0", err)
			}
		}},
		{name: "secondary_with_retry_after", fault: githubtest.SecondaryRateLimit(90 * time.Second), check: func(t *testing.T, err error) {
			var rl *github.AbuseRateLimitError
			if !errors.As(err, &rl) || rl.GetRetryAfter() != 90*time.Second {
				t.Fatalf("err = %v, want a secondary rate limit with Retry-After 90s", err)
			}
		}},
		{name: "secondary_without_retry_after", fault: githubtest.SecondaryRateLimit(0), check: func(t *testing.T, err error) {
			var rl *github.AbuseRateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter != nil || !strings.Contains(rl.Message, "exceeded a secondary rate limit") {
				t.Fatalf("err = %v, want a secondary rate limit naming no wait", err)
			}
			if rl.Response.Header.Get("Retry-After") != "" {
				t.Fatalf("answer carries Retry-After %q", rl.Response.Header.Get("Retry-After"))
			}
		}},
		{name: "bare_429", fault: githubtest.TooManyRequests(), check: func(t *testing.T, err error) {
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != 429 || er.Response.Header.Get("Retry-After") != "" ||
				er.Response.Header.Get("X-Ratelimit-Remaining") != "" {
				t.Fatalf("err = %v, want a bare 429", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			c := installationClient(t, s, 7)
			ctx := context.Background()
			if _, _, err := c.Checks.ListCheckRunsForRef(ctx, "octo-org", "app", headSHA, nil); err != nil {
				t.Fatalf("warm up: %v", err)
			}
			s.FailNext(1, tt.fault)
			_, _, err := c.Checks.ListCheckRunsForRef(ctx, "octo-org", "app", headSHA, nil)
			tt.check(t, err)
		})
	}
}

// TestRateLimitBudget spends a primary budget as GitHub does: headers on every
// answer, a 403 once it is spent, and go-github itself refusing to ask again
// before the reset.
func TestRateLimitBudget(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	// The token request is the App's (JWT), so the budget is the two reads.
	s.SetRateLimit(2, reset)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	for want := 1; want >= 0; want-- {
		_, resp, err := c.Checks.ListCheckRunsForRef(ctx, "octo-org", "app", headSHA, nil)
		if err != nil || resp.Rate.Remaining != want || resp.Rate.Limit != 2 || !resp.Rate.Reset.Time.Equal(reset) {
			t.Fatalf("read: rate = %+v, err = %v; want %d remaining", resp.Rate, err, want)
		}
	}
	before := len(s.Requests())
	_, _, err := c.Checks.ListCheckRunsForRef(ctx, "octo-org", "app", headSHA, nil)
	var rl *github.RateLimitError
	if !errors.As(err, &rl) || len(s.Requests()) != before {
		t.Fatalf("err = %v after %d new requests, want go-github's own refusal", err, len(s.Requests())-before)
	}
	// A client that does not know the budget is spent is told by the server.
	_, _, err = installationClient(t, s, 7).Checks.ListCheckRunsForRef(ctx, "octo-org", "app", headSHA, nil)
	if !errors.As(err, &rl) || statusOfRate(rl) != http.StatusForbidden || !rl.Rate.Reset.Time.Equal(reset) {
		t.Fatalf("err = %v, want the server's primary rate limit", err)
	}
}

func statusOfRate(rl *github.RateLimitError) int {
	if rl.Response == nil {
		return 0
	}
	return rl.Response.StatusCode
}

// TestContentsSizeLimits checks the contents API's documented size tiers.
func TestContentsSizeLimits(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	small := bytes.Repeat([]byte("a"), 1_000_000)
	large := bytes.Repeat([]byte("b"), 1_000_001)
	s.SetFile(repo, headSHA, "small.txt", small)
	s.SetFile(repo, headSHA, "large.txt", large)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	opts := &github.RepositoryContentGetOptions{Ref: headSHA}

	file, _, _, err := c.Repositories.GetContents(ctx, "octo-org", "app", "small.txt", opts)
	if err != nil {
		t.Fatalf("1 MB file: %v", err)
	}
	if got, err := file.GetContent(); err != nil || got != string(small) {
		t.Fatalf("1 MB file content: %d bytes, %v", len(got), err)
	}

	_, _, resp, err := c.Repositories.GetContents(ctx, "octo-org", "app", "large.txt", opts)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || resp.StatusCode != http.StatusForbidden || len(er.Errors) != 1 || er.Errors[0].Code != "too_large" {
		t.Fatalf("over 1 MB: err = %v, want 403 too_large", err)
	}

	// The object media type answers metadata without content.
	req, _ := c.NewRequest(http.MethodGet, "repos/octo-org/app/contents/large.txt?ref="+headSHA, nil)
	req.Header.Set("Accept", "application/vnd.github.object+json")
	var obj github.RepositoryContent
	if _, err := c.Do(ctx, req, &obj); err != nil || obj.GetEncoding() != "none" || obj.Content == nil || *obj.Content != "" || obj.GetSize() != len(large) {
		t.Fatalf("object media type: %+v, %v", obj, err)
	}
	if _, err := obj.GetContent(); err == nil {
		t.Fatal("go-github decoded content it was not sent")
	}

	// The raw media type answers the bytes.
	req, _ = c.NewRequest(http.MethodGet, "repos/octo-org/app/contents/large.txt?ref="+headSHA, nil)
	req.Header.Set("Accept", "application/vnd.github.raw+json")
	var raw bytes.Buffer
	if _, err := c.Do(ctx, req, &raw); err != nil || !bytes.Equal(raw.Bytes(), large) {
		t.Fatalf("raw media type: %d bytes, %v", raw.Len(), err)
	}
}

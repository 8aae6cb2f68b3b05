package githubapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/retry"
)

// What GitHub documents about its rate limits ("Rate limits for the REST API",
// section "Exceeding the rate limit",
// https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit):
//
//   - Primary: "a 403 or 429 response, and the x-ratelimit-remaining header
//     will be 0. You should not retry your request until after the time
//     specified by the x-ratelimit-reset header" (UTC epoch seconds).
//   - Secondary: "a 403 or 429 response and an error message that indicates
//     that you exceeded a secondary rate limit. If the retry-after response
//     header is present, you should not retry your request until after that
//     many seconds has elapsed. If the x-ratelimit-remaining header is 0, …
//     until after … x-ratelimit-reset. Otherwise, wait for at least one minute
//     before retrying. If your request continues to fail due to a secondary
//     rate limit, wait for an exponentially increasing amount of time between
//     retries."
//
// A 429 is only ever a rate limit, so a bare 429 (no header, no message) is
// met as the "otherwise" case: at least a minute, then growing. A 403 with
// neither header nor message is a permission answer and final.
const secondaryFloor = time.Minute

// Reasons, as they appear in errors and logs.
const (
	reasonPrimary   = "GitHub primary rate limit"
	reasonSecondary = "GitHub secondary rate limit"
	reasonRetry     = "GitHub asked to retry later"
)

// rateLimit reads a GitHub answer as a rate limit. It returns nil when the
// answer is not one. now is the clock the reset is measured against; body is
// the answer's body (at most its first bytes), which may be empty.
func rateLimit(status int, h http.Header, body []byte, now time.Time) *retry.WaitError {
	if status != http.StatusForbidden && status != http.StatusTooManyRequests {
		return nil
	}
	var e struct {
		Message string `json:"message"`
		Doc     string `json:"documentation_url"`
	}
	_ = json.Unmarshal(body, &e) // an unreadable body is simply one without a message
	cause := fmt.Errorf("%d %s", status, strings.TrimSpace(e.Message))
	// In the documented order: Retry-After (only secondary limits send it),
	// then a spent budget, then the minute-and-growing default.
	if d, ok := retryAfter(h, now); ok {
		return &retry.WaitError{Wait: d, Reason: reasonSecondary, Err: cause}
	}
	if d, ok := untilReset(h, now); ok {
		return &retry.WaitError{Wait: d, Reason: reasonPrimary, Err: cause}
	}
	if isSecondary(e.Message, e.Doc) || status == http.StatusTooManyRequests {
		return &retry.WaitError{Wait: secondaryFloor, Grow: true, Reason: reasonSecondary, Err: cause}
	}
	return nil
}

// isSecondary reports whether an error body says it is a secondary rate
// limit. GitHub's documented signal is the message ("You have exceeded a
// secondary rate limit…"); the documentation_url suffixes are the ones
// go-github's CheckResponse keys on (github.go, AbuseRateLimitError), the
// older "#abuse-rate-limits" included. Matching text is the provider's own
// contract here: GitHub gives no error code for it.
func isSecondary(message, doc string) bool {
	return strings.Contains(strings.ToLower(message), "secondary rate limit") ||
		strings.HasSuffix(doc, "secondary-rate-limits") || strings.HasSuffix(doc, "#abuse-rate-limits")
}

// retryAfter reads Retry-After in seconds (what GitHub sends) or as an HTTP
// date (RFC 9110 §10.2.3 allows both).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// untilReset reads a spent primary budget: the wait until x-ratelimit-reset,
// plus a second because the reset is rounded down to whole seconds.
func untilReset(h http.Header, now time.Time) (time.Duration, bool) {
	if h.Get("X-RateLimit-Remaining") != "0" {
		return 0, false
	}
	reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return 0, false
	}
	return max(time.Unix(reset, 0).Sub(now), 0) + time.Second, true
}

// peekBody returns up to the first 64 KiB of resp's body and puts them back,
// so the caller downstream still reads the whole body.
func peekBody(resp *http.Response) []byte {
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return head
}

// RateLimitWait is a retry.Classifier for go-github's own rate-limit errors.
// Answers that pass through a Factory's clients already surface as
// *retry.WaitError; this covers the errors go-github makes without asking
// GitHub: a *github.RateLimitError once a response said the budget is spent
// (until x-ratelimit-reset), a *github.AbuseRateLimitError until a secondary
// limit's Retry-After, and a 429 *github.ErrorResponse, which go-github does
// not classify. It returns nil for any other error.
func RateLimitWait(err error) *retry.WaitError {
	now := time.Now()
	var primary *github.RateLimitError
	if errors.As(err, &primary) {
		return &retry.WaitError{Wait: max(primary.Rate.Reset.Sub(now), 0) + time.Second, Reason: reasonPrimary, Err: err}
	}
	var secondary *github.AbuseRateLimitError
	if errors.As(err, &secondary) {
		if secondary.RetryAfter != nil {
			return &retry.WaitError{Wait: *secondary.RetryAfter, Reason: reasonSecondary, Err: err}
		}
		return &retry.WaitError{Wait: secondaryFloor, Grow: true, Reason: reasonSecondary, Err: err}
	}
	var resp *github.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil && resp.Response.StatusCode == http.StatusTooManyRequests {
		body, _ := json.Marshal(resp) // message and documentation_url, as GitHub sent them
		if w := rateLimit(resp.Response.StatusCode, resp.Response.Header, body, now); w != nil {
			w.Err = err
			return w
		}
	}
	return nil
}

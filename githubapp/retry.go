package githubapp

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/pandadeploy/panda/retry"
)

// RetryPolicy bounds how the clients retry answers that say "try again":
// 5xx, and GitHub's rate limits (see rateLimit for what GitHub documents).
//
// A wait of at most MaxDelay is waited out in the request, so a short
// Retry-After or a blip of 502s never reaches the caller. A longer wait is
// not: the request fails at once with a *retry.WaitError (wrapped by the HTTP
// client and go-github in a *url.Error), so the task that made it goes back
// to the queue for that long instead of holding a worker. A rate limit still
// answered after MaxAttempts is surfaced the same way.
type RetryPolicy struct {
	// MaxAttempts is the number of tries of one request, the first included.
	// If zero, 4.
	MaxAttempts int
	// BaseDelay is the wait before the first retry of a 5xx that names no
	// wait; it doubles with each retry, with jitter. If zero, 1 second.
	BaseDelay time.Duration
	// MaxDelay is the longest wait held inside a request. If zero, 5 seconds:
	// short enough that a worker shutting down (25 s) is not kept waiting.
	MaxDelay time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 5 * time.Second
	}
	return p
}

// retryTransport retries requests whose answers say "try again" and whose
// bodies can be replayed (GetBody). A POST that got a 5xx is not replayed
// (see replaySafe): GitHub may have created the resource behind the error. It waits as the answer says (Retry-After,
// X-RateLimit-Reset) or backs off exponentially, and stops waiting when the
// request's context ends.
type retryTransport struct {
	next   http.RoundTripper
	policy RetryPolicy
	now    func() time.Time
}

func newRetryTransport(next http.RoundTripper, p RetryPolicy) *retryTransport {
	return &retryTransport{next: next, policy: p.withDefaults(), now: time.Now}
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		v := t.judge(resp, attempt)
		if !v.retry {
			return resp, nil
		}
		last := attempt >= t.policy.MaxAttempts || !replayable(req) || !replaySafe(req, resp)
		if v.wait.Wait > t.policy.MaxDelay || (last && v.limit) {
			drain(resp)
			return nil, v.wait
		}
		if last {
			return resp, nil
		}
		next, err := rewind(req)
		if err != nil {
			return resp, nil
		}
		drain(resp)
		if err := sleep(req.Context(), v.wait.Wait); err != nil {
			return nil, err
		}
		req = next
	}
}

// verdict is what one answer asks of the client.
type verdict struct {
	retry bool
	limit bool             // a rate limit, rather than a 5xx
	wait  *retry.WaitError // how long, and why
}

// judge reads resp: a rate limit, a 5xx worth another try, or final.
func (t *retryTransport) judge(resp *http.Response, attempt int) verdict {
	now := t.now()
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
		w := rateLimit(resp.StatusCode, resp.Header, peekBody(resp), now)
		if w == nil {
			return verdict{} // a plain 403 is a permission answer, final
		}
		if w.Grow {
			// Within a request the growth runs over its attempts.
			w = &retry.WaitError{Wait: w.Wait << (attempt - 1), Grow: true, Reason: w.Reason, Err: w.Err}
		}
		return verdict{retry: true, limit: true, wait: w}
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		cause := fmt.Errorf("%s", resp.Status)
		if d, ok := retryAfter(resp.Header, now); ok {
			return verdict{retry: true, wait: &retry.WaitError{Wait: d, Reason: reasonRetry, Err: cause}}
		}
		return verdict{retry: true, wait: &retry.WaitError{Wait: t.backoff(attempt), Reason: reasonRetry, Err: cause}}
	default:
		return verdict{}
	}
}

// backoff returns BaseDelay·2^(attempt-1), jittered into its upper half so that
// workers hit by the same outage do not retry in step.
func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.policy.BaseDelay << (attempt - 1)
	if d <= 0 || d > t.policy.MaxDelay {
		d = t.policy.MaxDelay
	}
	return d/2 + rand.N(d/2+1) // #nosec G404 -- jitter spreads retries; it needs no unpredictability
}

// replaySafe reports whether sending req again after resp cannot do twice
// what req asked for. A rate-limit answer says GitHub refused the request
// unread, and GET, PATCH, PUT and DELETE are idempotent, so those are safe.
// A POST that got a 5xx may have created its comment, check run or
// Deployment all the same (probot/probot#921: a comment created behind a 500,
// posted four times by retries), so it is returned to the caller, which
// looks the resource up before creating it again. Two POSTs are safe anyway:
// a second installation token is harmless, and GitHub answers a reaction the
// App already made with that reaction (200).
func replaySafe(req *http.Request, resp *http.Response) bool {
	if req.Method != http.MethodPost || resp.StatusCode < 500 {
		return true
	}
	p := req.URL.Path
	return strings.HasSuffix(p, "/access_tokens") || strings.HasSuffix(p, "/reactions")
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// rewind returns a copy of req with a fresh body.
func rewind(req *http.Request) (*http.Request, error) {
	next := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		next.Body = body
	}
	return next, nil
}

// drain reads a little of a discarded answer so its connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

package githubapp

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds how the clients retry answers that say "try again":
// 5xx, and rate limits (a primary limit is a 403 or 429 with
// X-RateLimit-Remaining: 0 and X-RateLimit-Reset; a secondary limit is a 403
// or 429 with Retry-After).
type RetryPolicy struct {
	// MaxAttempts is the number of tries of one request, the first included.
	// If zero, 4.
	MaxAttempts int
	// BaseDelay is the wait before the first retry when the answer names none;
	// it doubles with each retry, with jitter. If zero, 1 second.
	BaseDelay time.Duration
	// MaxDelay is the longest single wait. An answer that asks for a longer one
	// (a primary limit resetting in 40 minutes) is returned to the caller, whose
	// job can be re-enqueued for later rather than hold a worker. If zero, 1 minute.
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
		p.MaxDelay = time.Minute
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
		wait, retry := t.retryWait(resp, attempt)
		if !retry || attempt >= t.policy.MaxAttempts || !replayable(req) || !replaySafe(req, resp) {
			return resp, nil
		}
		next, err := rewind(req)
		if err != nil {
			return resp, nil
		}
		drain(resp)
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		req = next
	}
}

// retryWait says whether resp is worth retrying and after how long.
func (t *retryTransport) retryWait(resp *http.Response, attempt int) (time.Duration, bool) {
	var wait time.Duration
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
		if d, ok := t.retryAfter(resp.Header); ok {
			wait = d
		} else if d, ok := t.rateLimitReset(resp.Header); ok {
			wait = d
		} else if resp.StatusCode == http.StatusForbidden {
			return 0, false // a plain 403 is a permission answer, final
		} else {
			wait = t.backoff(attempt)
		}
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		if d, ok := t.retryAfter(resp.Header); ok {
			wait = d
		} else {
			wait = t.backoff(attempt)
		}
	default:
		return 0, false
	}
	return wait, wait <= t.policy.MaxDelay
}

// retryAfter reads Retry-After in seconds or as an HTTP date.
func (t *retryTransport) retryAfter(h http.Header) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(t.now()), 0), true
	}
	return 0, false
}

// rateLimitReset reads a spent primary rate limit: the wait until its reset,
// plus a second because the reset is rounded down to whole seconds.
func (t *retryTransport) rateLimitReset(h http.Header) (time.Duration, bool) {
	if h.Get("X-RateLimit-Remaining") != "0" {
		return 0, false
	}
	reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return 0, false
	}
	return max(time.Unix(reset, 0).Sub(t.now()), 0) + time.Second, true
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

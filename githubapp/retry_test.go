package githubapp

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/retry"
)

// scripted answers with the given statuses and headers in turn and counts calls.
type scripted struct {
	answers []*http.Response
	calls   int
	bodies  []string
}

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		s.bodies = append(s.bodies, string(b))
	}
	resp := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	return resp, nil
}

func answer(status int, headers ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader("{}"))}
}

func answerBody(status int, body string, headers ...string) *http.Response {
	r := answer(status, headers...)
	r.Body = io.NopCloser(strings.NewReader(body))
	return r
}

const secondaryBody = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`

func TestRetryTransport(t *testing.T) {
	t.Parallel()
	now := time.Now()
	reset := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		name      string
		method    string // If empty, PATCH.
		answers   []*http.Response
		body      func() io.Reader
		wantCalls int
		wantCode  int           // the answer returned, when no wait is surfaced
		wantWait  time.Duration // the wait surfaced, when one is
		wantGrow  bool
		wantWhy   string
	}{
		{name: "bare_429_waits_a_minute", answers: []*http.Response{answer(429), answer(200)}, wantCalls: 1, wantWait: time.Minute, wantGrow: true, wantWhy: "secondary"},
		{name: "secondary_without_retry_after", answers: []*http.Response{answerBody(403, secondaryBody), answer(200)}, wantCalls: 1, wantWait: time.Minute, wantGrow: true, wantWhy: "secondary"},
		{name: "secondary_429_short_retry_after_retried", answers: []*http.Response{answerBody(429, secondaryBody, "Retry-After", "0"), answer(200)}, wantCalls: 2, wantCode: 200},
		{name: "retry_after_too_long", answers: []*http.Response{answer(403, "Retry-After", "3600"), answer(200)}, wantCalls: 1, wantWait: time.Hour, wantWhy: "secondary"},
		{name: "primary_far_reset", answers: []*http.Response{answer(429, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset(40*time.Minute))}, wantCalls: 1, wantWait: 40 * time.Minute, wantWhy: "primary"},
		{name: "primary_near_reset_retried", answers: []*http.Response{answer(403, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset(0)), answer(200)}, wantCalls: 2, wantCode: 200},
		{name: "rate_limit_outlasting_attempts", answers: []*http.Response{answer(429, "Retry-After", "0")}, wantCalls: 3, wantWait: 0, wantWhy: "secondary"},
		{name: "plain_forbidden_final", answers: []*http.Response{answerBody(403, `{"message":"Resource not accessible by integration"}`), answer(200)}, wantCalls: 1, wantCode: 403},
		{name: "unavailable_long_retry_after", answers: []*http.Response{answer(503, "Retry-After", "120"), answer(200)}, wantCalls: 1, wantWait: 2 * time.Minute, wantWhy: "later"},
		{name: "retry_after_http_date", answers: []*http.Response{answer(503, "Retry-After", now.UTC().Format(http.TimeFormat)), answer(200)}, wantCalls: 2, wantCode: 200},
		{name: "server_errors_outlasting_attempts", answers: []*http.Response{answer(500)}, wantCalls: 3, wantCode: 500},
		{name: "not_implemented_final", answers: []*http.Response{answer(501), answer(200)}, wantCalls: 1, wantCode: 501},
		{name: "success_with_spent_budget_final", answers: []*http.Response{answer(200, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1")}, wantCalls: 1, wantCode: 200},
		{
			name: "replayable_body_replayed", answers: []*http.Response{answer(502), answer(201)},
			body: func() io.Reader { return strings.NewReader(`{"a":1}`) }, wantCalls: 2, wantCode: 201,
		},
		{
			// The create may have happened behind the 502.
			name: "post_not_replayed_after_5xx", method: http.MethodPost, answers: []*http.Response{answer(502), answer(201)},
			body: func() io.Reader { return strings.NewReader(`{"a":1}`) }, wantCalls: 1, wantCode: 502,
		},
		{
			// A rate limit refused the request unread.
			name: "post_replayed_after_rate_limit", method: http.MethodPost, answers: []*http.Response{answer(429, "Retry-After", "0"), answer(201)},
			body: func() io.Reader { return strings.NewReader(`{"a":1}`) }, wantCalls: 2, wantCode: 201,
		},
		{
			// A body without GetBody cannot be sent twice; the first answer stands.
			name: "one_shot_body_not_retried", answers: []*http.Response{answer(502), answer(201)},
			body: func() io.Reader { return io.MultiReader(strings.NewReader(`{"a":1}`)) }, wantCalls: 1, wantCode: 502,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := &scripted{answers: tt.answers}
			rt := newRetryTransport(next, RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Second, MaxAttempts: 3})
			// The table's resets are relative to now; a parallel subtest may start seconds later.
			rt.now = func() time.Time { return now }
			var body io.Reader
			if tt.body != nil {
				body = tt.body()
			}
			method := tt.method
			if method == "" {
				method = http.MethodPatch
			}
			req, _ := http.NewRequest(method, "http://github.invalid/x", body)
			resp, err := rt.RoundTrip(req)
			if next.calls != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", next.calls, tt.wantCalls)
			}
			if tt.wantWhy != "" {
				var w *retry.WaitError
				if !errors.As(err, &w) || resp != nil {
					t.Fatalf("RoundTrip = %v, %v; want a surfaced wait", resp, err)
				}
				if w.Wait < tt.wantWait-2*time.Second || w.Wait > tt.wantWait+2*time.Second || w.Grow != tt.wantGrow || !strings.Contains(w.Reason, tt.wantWhy) {
					t.Fatalf("wait = %+v, want %v (grow %v) for %q", w, tt.wantWait, tt.wantGrow, tt.wantWhy)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantCode)
			}
			// The body the client reads is whole, even where the transport peeked at it.
			if b, _ := io.ReadAll(resp.Body); tt.wantCode == 403 && !strings.Contains(string(b), "Resource not accessible") {
				t.Fatalf("body = %q", b)
			}
			for _, b := range next.bodies {
				if tt.body != nil && b != `{"a":1}` {
					t.Fatalf("sent body %q", b)
				}
			}
		})
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	rt := newRetryTransport(http.DefaultTransport, RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second})
	for attempt, max := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		if d := rt.backoff(attempt); d < max/2 || d > max {
			t.Errorf("backoff(%d) = %v, want in [%v, %v]", attempt, d, max/2, max)
		}
	}
}

package githubapp

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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

func TestRetryTransport(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name      string
		method    string // If empty, PATCH.
		answers   []*http.Response
		body      func() io.Reader
		wantCalls int
		wantCode  int
	}{
		{name: "too_many_requests_without_headers", answers: []*http.Response{answer(429), answer(200)}, wantCalls: 2, wantCode: 200},
		{name: "retry_after_http_date", answers: []*http.Response{answer(503, "Retry-After", now.UTC().Format(http.TimeFormat)), answer(200)}, wantCalls: 2, wantCode: 200},
		{name: "retry_after_too_long", answers: []*http.Response{answer(403, "Retry-After", "3600"), answer(200)}, wantCalls: 1, wantCode: 403},
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
			name: "post_replayed_after_rate_limit", method: http.MethodPost, answers: []*http.Response{answer(429), answer(201)},
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
			rt := newRetryTransport(next, RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Second})
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
			if err != nil {
				t.Fatal(err)
			}
			if next.calls != tt.wantCalls || resp.StatusCode != tt.wantCode {
				t.Fatalf("calls = %d, status = %d; want %d, %d", next.calls, resp.StatusCode, tt.wantCalls, tt.wantCode)
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

package githubtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Fault is an answer the server gives instead of serving a request.
type Fault struct {
	// Status is the status code. If zero, 502.
	Status int
	// Headers are added to the answer.
	Headers http.Header
	// Body is the answer body. If empty, GitHub's error JSON for Status.
	Body string
}

// FailNext makes the next n requests, whatever their route, answer with f
// instead of being served. Calls queue up: FailNext(1, a); FailNext(1, b)
// answers a, then b.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// SecondaryRateLimit returns the 403 GitHub answers when a client trips a
// secondary rate limit, with the given Retry-After.
func SecondaryRateLimit(retryAfter time.Duration) Fault {
	body, _ := json.Marshal(map[string]string{
		"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.",
		"documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
	})
	return Fault{
		Status:  http.StatusForbidden,
		Headers: http.Header{"Retry-After": {strconv.Itoa(int(retryAfter / time.Second))}},
		Body:    string(body),
	}
}

// PrimaryRateLimit returns the 403 GitHub answers when an installation has used
// up its hourly request budget, which resets at reset.
func PrimaryRateLimit(reset time.Time) Fault {
	body, _ := json.Marshal(map[string]string{
		"message":           "API rate limit exceeded for installation ID 1.",
		"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
	})
	return Fault{
		Status: http.StatusForbidden,
		Headers: http.Header{
			"X-Ratelimit-Limit":     {"5000"},
			"X-Ratelimit-Remaining": {"0"},
			"X-Ratelimit-Used":      {"5000"},
			"X-Ratelimit-Reset":     {strconv.FormatInt(reset.Unix(), 10)},
			"X-Ratelimit-Resource":  {"core"},
		},
		Body: string(body),
	}
}

// inject answers with the next queued Fault, if any, instead of serving.
func (s *Server) inject(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		var f *Fault
		if len(s.faults) > 0 {
			f = &s.faults[0]
			s.faults = s.faults[1:]
		}
		s.mu.Unlock()
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		status := f.Status
		if status == 0 {
			status = http.StatusBadGateway
		}
		for k, vs := range f.Headers {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		if f.Body == "" {
			writeError(w, status, http.StatusText(status))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
	})
}

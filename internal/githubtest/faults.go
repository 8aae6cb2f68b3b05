package githubtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
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
	// Route, when set, limits the fault to requests that match it as an
	// http.ServeMux pattern, such as "POST /repos/{owner}/{repo}/check-runs";
	// the fault waits in the queue for the first such request. If empty, the
	// fault takes the next request, whatever its route.
	Route string
	// AfterServe makes the server serve the request first, creating what it
	// creates, and then answer with the fault instead of the real answer.
	// GitHub does this: a 5xx from its front end says nothing of whether the
	// request behind it took effect; probot/probot#921 shows a comment
	// created behind a 500 and posted four times by the client's retries.
	// GitHub's REST docs promise no idempotency for POSTs, so a client that
	// replays one after a 5xx may create a second comment, check run or
	// Deployment.
	AfterServe bool
}

// CreatedThen502 is the fault of a create that succeeded behind a 502: the
// next request matching route (for example
// "POST /repos/{owner}/{repo}/issues/{number}/comments") creates its resource
// and its client gets 502 Bad Gateway.
func CreatedThen502(route string) Fault {
	return Fault{Status: http.StatusBadGateway, Route: route, AfterServe: true}
}

// FailNext makes the next n requests (of f.Route, if set) answer with f
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

// matches reports whether f applies to r.
func (f Fault) matches(r *http.Request) bool {
	if f.Route == "" {
		return true
	}
	m := http.NewServeMux()
	m.HandleFunc(f.Route, func(http.ResponseWriter, *http.Request) {})
	_, pattern := m.Handler(r)
	return pattern == f.Route
}

// inject answers with the first queued Fault that applies to the request, if
// any, instead of serving it (or after serving it, for AfterServe).
func (s *Server) inject(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		var f *Fault
		for i := range s.faults {
			if s.faults[i].matches(r) {
				f = &Fault{}
				*f = s.faults[i]
				s.faults = slices.Delete(s.faults, i, i+1)
				break
			}
		}
		s.mu.Unlock()
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		if f.AfterServe {
			next.ServeHTTP(httptest.NewRecorder(), r)
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

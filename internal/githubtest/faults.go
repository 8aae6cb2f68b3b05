package githubtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
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

// Rate limits as GitHub documents them ("Rate limits for the REST API",
// https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
// "If you exceed your primary rate limit, you will receive a 403 or 429
// response, and the x-ratelimit-remaining header will be 0"; "If you exceed a
// secondary rate limit, you will receive a 403 or 429 response and an error
// message that indicates that you exceeded a secondary rate limit", with a
// retry-after header or without one ("Otherwise, wait for at least one
// minute"). The constructors below answer 403, what GitHub.com sends in the
// recorded answers quoted; set Fault.Status to 429 for the other documented
// status.

// secondaryMessage is the message of GitHub's secondary rate limit answer, as
// GitHub.com sends it (recorded 403 answers quoted in hisxo/gitGraber#41,
// Orobas42/GitShodanKey#3, KnpLabs/php-github-api#1070); newer answers append
// the request id, which varies.
const secondaryMessage = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000."

// SecondaryRateLimit returns the 403 GitHub answers when a client trips a
// secondary rate limit, with the given Retry-After in whole seconds; with
// none if retryAfter is zero, which the docs allow.
func SecondaryRateLimit(retryAfter time.Duration) Fault {
	body, _ := json.Marshal(map[string]string{
		"message":           secondaryMessage,
		"documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
	})
	f := Fault{Status: http.StatusForbidden, Body: string(body)}
	if retryAfter > 0 {
		f.Headers = http.Header{"Retry-After": {strconv.Itoa(int(retryAfter / time.Second))}}
	}
	return f
}

// TooManyRequests returns a bare 429: no Retry-After, no x-ratelimit headers,
// GitHub's generic error body. The docs name 429 as a rate-limit status but
// document no body for it, so this is the least a client can be told.
func TooManyRequests() Fault {
	return Fault{Status: http.StatusTooManyRequests}
}

// PrimaryRateLimit returns the 403 GitHub answers when an installation has used
// up its hourly request budget, which resets at reset.
func PrimaryRateLimit(reset time.Time) Fault {
	body, _ := json.Marshal(map[string]string{
		"message":           "API rate limit exceeded for installation ID 1.",
		"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
	})
	return Fault{
		Status:  http.StatusForbidden,
		Headers: rateHeaders(5000, 0, reset),
		Body:    string(body),
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

// rateHeaders are the x-ratelimit-* headers GitHub sends on every answer
// ("Checking the status of your rate limit" on the rate limits page).
func rateHeaders(limit, remaining int, reset time.Time) http.Header {
	return http.Header{
		"X-Ratelimit-Limit":     {strconv.Itoa(limit)},
		"X-Ratelimit-Remaining": {strconv.Itoa(remaining)},
		"X-Ratelimit-Used":      {strconv.Itoa(limit - remaining)},
		"X-Ratelimit-Reset":     {strconv.FormatInt(reset.Unix(), 10)},
		"X-Ratelimit-Resource":  {"core"},
	}
}

// budget is a primary rate limit: requests left until reset.
type budget struct {
	limit, remaining int
	reset            time.Time
}

// SetRateLimit gives the server a primary rate limit of limit requests, the
// window ending at reset. From then on every answer carries GitHub's
// x-ratelimit-* headers, each request spends one, and once none is left the
// server answers PrimaryRateLimit until reset, when the budget refills for
// another hour. Only requests made with an installation token spend it: the
// App's own JWT requests (/app/...) count against the App's separate limit
// ("Primary rate limit for GitHub App installations" on the rate limits page
// is per installation), which the server does not model. GitHub keeps one
// budget per installation; the server keeps one for all installations, the
// same for a test of one installation.
func (s *Server) SetRateLimit(limit int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budget = &budget{limit: limit, remaining: limit, reset: reset}
}

// spend takes one request from the budget, if there is one: it adds the
// rate headers to w and reports false when the budget is spent.
func (s *Server) spend(w http.ResponseWriter, r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budget
	if b == nil || r.URL.Path == "/app" || strings.HasPrefix(r.URL.Path, "/app/") {
		return Fault{}, true
	}
	if now := time.Now(); !now.Before(b.reset) {
		b.remaining = b.limit
		for !now.Before(b.reset) {
			b.reset = b.reset.Add(time.Hour)
		}
	}
	if b.remaining == 0 {
		return PrimaryRateLimit(b.reset), false
	}
	b.remaining--
	for k, vs := range rateHeaders(b.limit, b.remaining, b.reset) {
		w.Header()[k] = vs
	}
	return Fault{}, true
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
			limited, ok := s.spend(w, r)
			if ok {
				next.ServeHTTP(w, r)
				return
			}
			f = &limited
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

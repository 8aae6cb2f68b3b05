package api

import "net/http"

// corsAllowHeaders are the request headers a page on another origin may send:
// the API token, JSON bodies, and the id an EventSource resumes from.
const corsAllowHeaders = "Authorization, Content-Type, Last-Event-ID"

// cors lets pages on the configured origins use the API (the Fetch
// standard's CORS protocol): a preflight from an allowed origin is answered
// 204 with the methods and headers the API takes; a preflight from any other
// is a 403; other requests run as usual and, from an allowed origin, carry
// Access-Control-Allow-Origin so the page may read the answer. Credentials
// (cookies) are not allowed: the API takes bearer tokens, which a page sends
// itself. With no origins configured it returns next unchanged.
func (s *server) cors(next http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return next
	}
	allowed := make(map[string]bool, len(s.CORSOrigins))
	for _, o := range s.CORSOrigins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin") // caches must not serve one origin's answer to another
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			if !allowed[origin] {
				s.fail(w, r, &Error{Status: http.StatusForbidden, Message: "origin not allowed: add it to PANDA_CORS_ORIGINS"})
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed[origin] {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "Location, WWW-Authenticate")
		}
		next.ServeHTTP(w, r)
	})
}

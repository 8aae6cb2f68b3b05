package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

var errUnauthorized = &Error{Status: http.StatusUnauthorized,
	Message: "authentication required: send Authorization: Bearer <PANDA_API_TOKEN>"}

// checkToken reports whether r carries an Authorization header (present) and
// whether it holds the API token (ok).
func (s *server) checkToken(r *http.Request) (present, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return false, false
	}
	got, found := strings.CutPrefix(h, "Bearer ")
	want := s.APIToken.Reveal()
	if !found || want == "" {
		return true, false
	}
	// Compare digests in constant time: a timing oracle would leak the token
	// byte by byte, and hashing first hides its length too.
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return true, subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// requireToken lets a request through only with the API token. It answers
// before the route looks anything up, so a 401 tells nothing about what exists.
func (s *server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.checkToken(r); !ok {
			s.fail(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenOrID guards the reads of one deployment. Its id (about 59 random bits)
// is the capability, so no token is needed; but a token that is sent must be
// right, so a misconfigured script learns it at once instead of by accident.
func (s *server) tokenOrID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if present, ok := s.checkToken(r); present && !ok {
			s.fail(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

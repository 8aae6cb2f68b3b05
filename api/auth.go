package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

var errUnauthorized = &Error{Status: http.StatusUnauthorized,
	Message: "authentication required: send Authorization: Bearer <PANDA_API_TOKEN>"}

// callerKey is the context key of the API caller's name.
type callerKey struct{}

// caller returns the name of the API token the request was authorized with,
// or "" for a request without one (the by-id reads).
func caller(ctx context.Context) string {
	name, _ := ctx.Value(callerKey{}).(string)
	return name
}

// checkToken reports whether r carries an Authorization header (present) and
// the name of the caller whose token it holds ("" if none).
func (s *server) checkToken(r *http.Request) (present bool, name string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return false, ""
	}
	got, found := strings.CutPrefix(h, "Bearer ")
	if !found || got == "" {
		return true, ""
	}
	// Compare digests in constant time, and with every token whatever
	// matched: a timing oracle would leak a token byte by byte, or which
	// caller's it is. Hashing first hides the lengths too.
	g := sha256.Sum256([]byte(got))
	for _, t := range s.APITokens {
		want := t.Token.Reveal()
		if want == "" {
			continue // never matches: an empty token fails closed
		}
		w := sha256.Sum256([]byte(want))
		if subtle.ConstantTimeCompare(g[:], w[:]) == 1 {
			name = t.Name
		}
	}
	return true, name
}

// requireToken lets a request through only with an API token. It answers
// before the route looks anything up, so a 401 tells nothing about what exists.
func (s *server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, name := s.checkToken(r)
		if name == "" {
			s.fail(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, name)))
	})
}

// tokenOrID guards the reads of one deployment. Its id (about 59 random bits)
// is the capability, so no token is needed; but a token that is sent must be
// right, so a misconfigured script learns it at once instead of by accident.
func (s *server) tokenOrID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if present, name := s.checkToken(r); present && name == "" {
			s.fail(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

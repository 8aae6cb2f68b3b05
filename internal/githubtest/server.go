// Package githubtest provides an in-process stand-in for the GitHub REST API that
// the real go-github client and ghinstallation talk to in tests.
//
// A Server plays one GitHub App: it holds the App's RSA key, issues installation
// tokens against App JWTs it verifies, answers the repository routes Panda uses
// (check runs, issue comments, reactions, collaborator permissions, pull requests,
// deployments) with GitHub's paths, status codes and JSON shapes, validates bodies
// the way GitHub does (422 with GitHub's error JSON), and keeps what it was sent so
// a test can assert on what a user would see. Every route is served both at the
// root and under /api/v3 (the GitHub Enterprise Server layout that go-github's
// WithEnterpriseURLs produces).
//
// The Server is safe for concurrent use.
package githubtest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// AppSlug is the slug of the App the Server plays; its bot user is AppSlug+"[bot]".
const AppSlug = "panda-test"

const docsURL = "https://docs.github.com/rest"

// Server is a GitHub REST API test server. Create it with NewServer.
type Server struct {
	srv   *httptest.Server
	key   *rsa.PrivateKey
	appID int64

	mu            sync.Mutex
	nextID        int64
	tokenTTL      time.Duration
	installations map[int64]*installation
	repos         map[string]*repository // by lower-case "owner/name"
	tokens        map[string]*installationToken
	pats          map[string]*pat
	deliveries    []HookDelivery
	redeliveries  []int64
	comments      map[int64]*Comment
	reactions     map[int64][]Reaction
	requests      []Request
	faults        []Fault
	violations    []Violation
	budget        *budget          // nil: no primary rate limit
	teams         map[string]*team // by lower-case "org/slug"
}

// NewServer starts a Server with a fresh 2048-bit App key and App id 1. It is
// closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("githubtest: generate app key: %v", err)
	}
	s := &Server{
		key:           key,
		appID:         1,
		nextID:        1000,
		tokenTTL:      time.Hour,
		installations: map[int64]*installation{},
		repos:         map[string]*repository{},
		tokens:        map[string]*installationToken{},
		comments:      map[int64]*Comment{},
		reactions:     map[int64][]Reaction{},
	}
	mux := s.routes()
	// One mux serves both layouts: GitHub.com paths at the root, and the same
	// paths under /api/v3 as GitHub Enterprise Server serves them.
	// The repository page (page.go) is a web page, not an API route: it is kept
	// out of Requests and faults, so browsing it changes no test's assertions.
	top := http.NewServeMux()
	top.HandleFunc("GET /{owner}/{repo}", s.handleRepoPage)
	top.Handle("/", s.record(s.inject(mux)))
	s.srv = httptest.NewServer(top)
	t.Cleanup(s.srv.Close)
	return s
}

// URL returns the server's root URL without a trailing slash. Use it as
// GITHUB_API_URL: a client configured with go-github's WithEnterpriseURLs adds
// /api/v3/ to it, and URL()+"/api/v3" is served identically.
func (s *Server) URL() string { return s.srv.URL }

// Client returns an *http.Client that trusts the server (it speaks plain HTTP).
func (s *Server) Client() *http.Client { return s.srv.Client() }

// AppID returns the id of the App the server plays.
func (s *Server) AppID() int64 { return s.appID }

// PrivateKeyPEM returns the App's private key in PKCS#1 PEM form, as GitHub
// hands it out.
func (s *Server) PrivateKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.key)})
}

// newID returns a fresh id; ids are unique across all objects of a server.
// The caller holds s.mu.
func (s *Server) newID() int64 {
	s.nextID++
	return s.nextID
}

// Request is one request as the server received it.
type Request struct {
	Method string
	// Path is the URL path with any /api/v3 prefix removed.
	Path string
	// Enterprise reports whether the request came in under /api/v3.
	Enterprise bool
	Query      url.Values
	// Header holds the request headers; Authorization is replaced by "REDACTED".
	Header http.Header
	Body   []byte
	// Status is the status code the server answered.
	Status int
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// record stores each request (credentials redacted) with the status answered,
// and strips the /api/v3 prefix before routing.
func (s *Server) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
		if rest, ok := strings.CutPrefix(r.URL.Path, "/api/v3"); ok && (rest == "" || rest[0] == '/') {
			rec.Path, rec.Enterprise = rest, true
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = rest, ""
			r = r2
		}
		// Tokens are secrets even in tests: a failing test prints its records.
		if rec.Header.Get("Authorization") != "" {
			rec.Header.Set("Authorization", "REDACTED")
		}
		sw := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		rec.Status = sw.status
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	})
}

// apiError is GitHub's error JSON.
type apiError struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url"`
	Status           string       `json:"status"`
}

// fieldError is one entry of a 422's "errors" list.
type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Message: msg, DocumentationURL: docsURL, Status: itoa(int64(status))})
}

// writeInvalid answers 422 Validation Failed with the given field errors.
func writeInvalid(w http.ResponseWriter, errs ...fieldError) {
	writeJSON(w, http.StatusUnprocessableEntity, apiError{
		Message: "Validation Failed", Errors: errs, DocumentationURL: docsURL, Status: "422",
	})
}

// decodeBody decodes a JSON request body into v, answering 400 like GitHub when
// it is not JSON. An empty body or JSON null leaves v untouched.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, _ := io.ReadAll(r.Body)
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

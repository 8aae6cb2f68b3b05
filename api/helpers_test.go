package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/api"
	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/metrics"
	"github.com/pandadeploy/panda/secrets"
	"github.com/pandadeploy/panda/store"
)

const token = "test-api-token-0123456789"

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeDeployer creates the record as jobs would and remembers the requests.
type fakeDeployer struct {
	st  *store.Store
	err error

	mu   sync.Mutex
	reqs []deployment.Request
}

func (f *fakeDeployer) Deploy(ctx context.Context, req deployment.Request) (*store.Deployment, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	d := &store.Deployment{ID: store.NewID(), Status: store.StatusQueued, Repo: req.Repo, SHA: req.SHA,
		Branch: req.Branch, Environment: req.Environment, Trigger: req.Trigger, Actor: req.Actor}
	d, _, err := f.st.Create(ctx, "test:"+d.ID, d)
	return d, err
}

func (f *fakeDeployer) requests() []deployment.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]deployment.Request(nil), f.reqs...)
}

// fakeVerifier answers Verify with account or err and remembers the connections.
type fakeVerifier struct {
	account string
	err     error

	mu   sync.Mutex
	seen []connections.AWS
}

func (f *fakeVerifier) Verify(ctx context.Context, c connections.AWS) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, c)
	return f.account, f.err
}

// fakeGitHubVerifier answers VerifyGitHub with err and remembers the connections.
type fakeGitHubVerifier struct {
	err error

	mu   sync.Mutex
	seen []connections.GitHub
}

func (f *fakeGitHubVerifier) VerifyGitHub(ctx context.Context, c connections.GitHub) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, c)
	return f.err
}

type testEnv struct {
	t        *testing.T
	redisURL string
	rdb      redis.UniversalClient
	st       *store.Store
	conns    *connections.Store
	deployer *fakeDeployer
	verifier *fakeVerifier
	ghVerify *fakeGitHubVerifier
	metrics  *metrics.Metrics
	logs     *syncBuffer
	srv      *httptest.Server
	spec     *spec
	audit    *audit.Log
}

type envOption func(*api.Options)

func withoutKey() envOption {
	return func(o *api.Options) { o.Connections = connections.NewStore(o.Store.Redis(), nil) }
}

// newEnv starts a private Redis and an app server on it.
func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	url := testenv.Redis(t)
	return newEnvOn(t, url, opts...)
}

// newEnvOn starts an app server (one "instance") on the Redis at url.
func newEnvOn(t *testing.T, url string, opts ...envOption) *testEnv {
	t.Helper()
	return newEnvWith(t, url, false, opts...)
}

// newEnvTLS starts the app server with TLS and HTTP/2, as behind a TLS
// listener in production: HTTP/2 streams cannot be hijacked.
func newEnvTLS(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	return newEnvWith(t, testenv.Redis(t), true, opts...)
}

func newEnvWith(t *testing.T, url string, tls bool, opts ...envOption) *testEnv {
	t.Helper()
	rdb, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	box, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, redisURL: url, rdb: rdb, st: store.New(rdb), logs: &syncBuffer{},
		verifier: &fakeVerifier{account: "123456789012"}, ghVerify: &fakeGitHubVerifier{}, spec: loadSpec(t)}
	e.conns = connections.NewStore(rdb, box)
	e.audit = audit.New(rdb, 0)
	e.deployer = &fakeDeployer{st: e.st}
	reg := prometheus.NewRegistry()
	e.metrics = metrics.New(reg)
	o := api.Options{
		Store: e.st, Connections: e.conns, Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		APITokens: []config.APIToken{{Name: "ci", Token: token}}, PublicURL: "https://panda.example.com/", Deployer: e.deployer, AWSVerifier: e.verifier,
		GitHubVerifier: e.ghVerify,
		Registry:       reg, Metrics: e.metrics, Heartbeat: time.Minute, Audit: e.audit,
	}
	for _, opt := range opts {
		opt(&o)
	}
	e.conns = o.Connections
	if o.Stop == nil {
		stop := make(chan struct{})
		o.Stop = stop
		t.Cleanup(func() { close(stop) }) // runs before srv.Close: open streams end, so Close does not wait
	}
	if tls {
		e.srv = httptest.NewUnstartedServer(api.New(o))
		e.srv.EnableHTTP2 = true
		e.srv.StartTLS()
	} else {
		e.srv = httptest.NewServer(api.New(o))
	}
	t.Cleanup(e.srv.Close)

	return e
}

type answer struct {
	Status  int
	Header  http.Header
	Raw     string
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// do sends a request; auth is the Authorization header ("" for none). Every
// exchange is checked against openapi.json.
func (e *testEnv) do(method, path, body, auth string) answer {
	e.t.Helper()
	return e.doWith(method, path, body, http.Header{"Authorization": {auth}})
}

// doWith is do with any request headers (empty values are not sent).
func (e *testEnv) doWith(method, path, body string, headers http.Header) answer {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range headers {
		for _, v := range vs {
			if v != "" {
				req.Header.Add(k, v)
			}
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if err := e.spec.check(req, []byte(body), resp.StatusCode, resp.Header, raw); err != nil {
		e.t.Errorf("%s %s: %d answer disagrees with openapi.json: %v\n%s", method, path, resp.StatusCode, err, raw)
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a); err != nil {
			e.t.Fatalf("%s %s: answer is not the envelope: %v: %s", method, path, err, raw)
		}
	}
	return a
}

func bearer(tok string) string { return "Bearer " + tok }

// deployment creates a RUNNING deployment record.
func (e *testEnv) deployment(mod ...func(*store.Deployment)) *store.Deployment {
	e.t.Helper()
	d := &store.Deployment{ID: store.NewID(), Status: store.StatusRunning, Repo: "octo/app", InstallationID: 7,
		SHA: strings.Repeat("a", 40), Branch: "main", Environment: "production", Trigger: "push", Actor: "octocat",
		StartedAt: time.Now().Add(-time.Minute)}
	for _, m := range mod {
		m(d)
	}
	d, _, err := e.st.Create(e.t.Context(), "test:"+d.ID, d)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// appendEvent appends an event as a worker would and returns its id.
func appendEvent(t testing.TB, st *store.Store, id string, ev store.Event) string {
	t.Helper()
	entry, err := st.Append(context.Background(), id, ev)
	if err != nil {
		t.Fatal(err)
	}
	return entry
}

// sseEvent is one parsed SSE frame.
type sseEvent struct {
	ID, Event string
	Data      store.StreamEvent
	Comment   string
}

// sseStream is a client reading one event stream.
type sseStream struct {
	resp *http.Response
	r    *bufio.Reader
}

// openEvents opens a stream and checks its answer against openapi.json: the
// status and headers of a stream, the whole body of a refusal.
func (e *testEnv) openEvents(ctx context.Context, id, lastEventID string) (*sseStream, *http.Response) {
	e.t.Helper()
	s, resp := openEventsWith(e.t, ctx, e.srv.Client(), e.srv.URL, id, lastEventID)
	var body []byte
	if resp.StatusCode != http.StatusOK {
		body, _ = io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		s.r = bufio.NewReader(resp.Body)
	}
	if err := e.spec.check(resp.Request, nil, resp.StatusCode, resp.Header, body); err != nil {
		e.t.Errorf("events of %s: %d answer disagrees with openapi.json: %v", id, resp.StatusCode, err)
	}
	return s, resp
}

func openEvents(t testing.TB, ctx context.Context, base, id, lastEventID string) (*sseStream, *http.Response) {
	t.Helper()
	return openEventsWith(t, ctx, http.DefaultClient, base, id, lastEventID)
}

func openEventsWith(t testing.TB, ctx context.Context, client *http.Client, base, id, lastEventID string) (*sseStream, *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/deploy/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{resp: resp, r: bufio.NewReader(resp.Body)}, resp
}

// next returns the next frame (skipping the retry line); io.EOF at the end.
func (s *sseStream) next() (sseEvent, error) {
	var ev sseEvent
	var seen bool
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && seen:
			return ev, nil
		case line == "":
		case strings.HasPrefix(line, ":"):
			ev.Comment, seen = strings.TrimSpace(line[1:]), true
		case strings.HasPrefix(line, "id: "):
			ev.ID, seen = line[4:], true
		case strings.HasPrefix(line, "event: "):
			ev.Event, seen = line[7:], true
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &ev.Data); err != nil {
				return ev, err
			}
			seen = true
		}
	}
}

// nextEvent skips comments.
func (s *sseStream) nextEvent() (sseEvent, error) {
	for {
		ev, err := s.next()
		if err != nil || ev.Comment == "" {
			return ev, err
		}
	}
}

// Package registrytest runs a real OCI registry (distribution/distribution, in-memory
// storage) inside the test process, so that pushes through the Docker engine can be
// checked against what a registry actually stored.
//
// The registry listens on plain HTTP on 127.0.0.1: the Docker engine treats every
// registry in 127.0.0.0/8 as insecure-allowed, so no TLS setup is needed.
package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/sirupsen/logrus"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"golang.org/x/crypto/bcrypt"

	// The registry finds its storage driver and access controller by name.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Options configures New. The zero value is an open registry.
type Options struct {
	// Username and Password, when Username is set, make the registry demand HTTP
	// basic auth with exactly these credentials (htpasswd with a bcrypt hash), so a
	// test proves the credentials it handed out really reached the registry.
	Username string
	Password string
}

// Registry is a running in-process registry, closed when its test ends. Its
// methods may be called from any goroutine.
type Registry struct {
	t       testing.TB
	srv     *httptest.Server
	opts    Options
	refusal atomic.Int32 // HTTP status for push requests; 0 lets them through

	mu      sync.Mutex
	stall   chan struct{} // while not nil, push requests wait for it to close
	stalled int           // push requests that waited on a stall
	waiting int           // push requests waiting on a stall now
}

// New starts a registry for t on 127.0.0.1 and a random port.
func New(t testing.TB, opts Options) *Registry {
	t.Helper()
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory": configuration.Parameters{},
			// The purger walks storage in the background; a test registry has no stale uploads.
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	cfg.HTTP.Secret = randomHex(t)
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "error"
	if opts.Username != "" {
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{
			"realm": "registrytest",
			"path":  writeHtpasswd(t, opts.Username, opts.Password),
		}}
	}
	// handlers.NewApp logs through logrus' standard logger at info level (only the
	// registry binary applies cfg.Log); the registry's request log would bury the
	// test output, so quieten that shared logger.
	logrus.SetLevel(logrus.FatalLevel)
	app := handlers.NewApp(context.Background(), cfg)
	r := &Registry{t: t, opts: opts}
	r.srv = httptest.NewServer(r.stallPushes(r.refusePushes(app)))
	t.Cleanup(func() {
		r.srv.Close()
		_ = app.Shutdown()
	})
	return r
}

// Host returns the registry's host:port, as used in image references.
func (r *Registry) Host() string { return r.srv.Listener.Addr().String() }

// URL returns the registry's base URL, http://host:port.
func (r *Registry) URL() string { return r.srv.URL }

// RefusePushes makes the registry answer every request that writes (blob uploads and
// manifest puts) with status and a DENIED error body, as a registry refusing a push
// would. Status 0 lets pushes through again. Reads are unaffected.
func (r *Registry) RefusePushes(status int) { r.refusal.Store(int32(status)) } // #nosec G115 -- an HTTP status code

func (r *Registry) refusePushes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		status := int(r.refusal.Load())
		writes := req.Method == http.MethodPost || req.Method == http.MethodPut ||
			req.Method == http.MethodPatch || req.Method == http.MethodDelete
		if status == 0 || !writes || !strings.HasPrefix(req.URL.Path, "/v2/") {
			next.ServeHTTP(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"push refused by registrytest"}]}`)
	})
}

// StallPushes makes every following request that writes (blob uploads and
// manifest puts) wait, as a slow registry would, until release is called or
// the client goes away. Reads are unaffected. It lets a test stop a push
// deterministically mid-way and then look at what the registry kept.
func (r *Registry) StallPushes() (release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	r.stall = ch
	var once sync.Once
	release = func() {
		once.Do(func() {
			r.mu.Lock()
			if r.stall == ch {
				r.stall = nil
			}
			r.mu.Unlock()
			close(ch)
		})
	}
	// Before the server closes (cleanups run last in, first out): Close waits
	// for the requests held here.
	r.t.Cleanup(release)
	return release
}

// Stalled returns how many push requests have waited on a stall so far, and
// how many are waiting still (their clients still connected).
func (r *Registry) Stalled() (total, waiting int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stalled, r.waiting
}

func (r *Registry) stallPushes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		ch := r.stall
		if ch != nil && isWrite(req) {
			r.stalled++
			r.waiting++
		} else {
			ch = nil
		}
		r.mu.Unlock()
		if ch != nil {
			select {
			case <-ch:
			case <-req.Context().Done():
			}
			r.mu.Lock()
			r.waiting--
			r.mu.Unlock()
			if req.Context().Err() != nil {
				return // the client went away: nothing of this request is stored
			}
		}
		next.ServeHTTP(w, req)
	})
}

func isWrite(req *http.Request) bool {
	writes := req.Method == http.MethodPost || req.Method == http.MethodPut ||
		req.Method == http.MethodPatch || req.Method == http.MethodDelete
	return writes && strings.HasPrefix(req.URL.Path, "/v2/")
}

func writeHtpasswd(t testing.TB, user, password string) string {
	t.Helper()
	// MinCost keeps each authenticated request fast; this hash guards nothing real.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("hash registry password: %v", err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatalf("write htpasswd: %v", err)
	}
	return path
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random secret: %v", err)
	}
	return hex.EncodeToString(b)
}

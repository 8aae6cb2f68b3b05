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
	r.srv = httptest.NewServer(r.refusePushes(app))
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

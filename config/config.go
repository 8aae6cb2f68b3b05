// Package config reads and validates the configuration of Panda's two binaries
// from the environment. It is called once, from main; nothing else reads the
// environment. Every error names the variable that is wrong, in one line.
package config

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Logger returns the JSON logger at the configured level, writing to w.
func (c Common) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel)) // validated by the loader
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Lookup is os.LookupEnv's shape, so tests pass a map instead of the process environment.
type Lookup func(key string) (string, bool)

// GitHub is what both binaries need to act as the GitHub App.
type GitHub struct {
	// AppID is GITHUB_APP_ID.
	AppID int64
	// PrivateKey is the App's PEM private key, from GITHUB_APP_PRIVATE_KEY or
	// the file named by GITHUB_APP_PRIVATE_KEY_FILE.
	PrivateKey Secret
	// URL is GITHUB_URL, the web and git base. If unset, https://github.com.
	URL string
	// APIURL is GITHUB_API_URL. If unset, https://api.github.com; anything else
	// is treated as GitHub Enterprise Server (or a test server).
	APIURL string
}

// Common holds the settings both binaries share.
type Common struct {
	// RedisURL is PANDA_REDIS_URL. If unset, redis://127.0.0.1:6379/0.
	RedisURL string
	GitHub   GitHub
	// PublicURL is PANDA_PUBLIC_URL, the base of links put on GitHub.
	// If unset, http://localhost:8080.
	PublicURL string
	// EncryptionKey is PANDA_ENCRYPTION_KEY decoded: 32 raw bytes (given in standard
	// base64, as `openssl rand -base64 32` prints). If unset, storing secrets is refused.
	EncryptionKey Secret
	// LogLevel is PANDA_LOG_LEVEL (debug, info, warn, error). If unset, info.
	LogLevel string
	// AuditRetention is PANDA_AUDIT_RETENTION, how long audit entries are kept
	// (a Go duration or whole days, like 400d). If unset, 400 days: longer
	// than the 30 days of deployment records, for a year's review.
	AuditRetention time.Duration
}

// App is the configuration of cmd/app.
type App struct {
	Common
	// Addr is PANDA_ADDR. If unset, :8080.
	Addr string
	// WebhookSecret is GITHUB_WEBHOOK_SECRET. Required: an app that cannot verify
	// signatures must not start.
	WebhookSecret Secret
	// APITokens are the callers of the /api/v1 routes: PANDA_API_TOKENS
	// ("name:token,…") and PANDA_API_TOKEN (a caller named "default"). At
	// least one is required; each token has 16 or more characters.
	APITokens []APIToken
	// CORSOrigins is PANDA_CORS_ORIGINS, the origins (comma-separated, like
	// https://dashboard.example.com) whose pages may call the API and open
	// event streams. If unset, none: only same-origin pages.
	CORSOrigins []string
	// SwaggerUIDir is PANDA_SWAGGER_UI_DIR, the swagger-ui-dist package
	// directory served at /swagger-ui/ (scripts install it in
	// api/swaggerui/node_modules/swagger-ui-dist). If unset, no Swagger UI.
	SwaggerUIDir string
}

// Worker is the configuration of cmd/worker.
type Worker struct {
	Common
	// Concurrency is PANDA_WORKER_CONCURRENCY. If zero, 4 tasks at a time.
	Concurrency int
	// DeployTimeout is PANDA_DEPLOY_TIMEOUT, how long an execution may run before
	// the deployment is TIMEOUT. If unset, 30 minutes.
	DeployTimeout time.Duration
	// BuildTimeout is PANDA_BUILD_TIMEOUT. If unset, 20 minutes.
	BuildTimeout time.Duration
	// MaxContextBytes is PANDA_MAX_CONTEXT_MB in MiB. If unset, 500 MiB.
	MaxContextBytes int64
	// WorkDir is PANDA_WORK_DIR, where checkouts are made. If unset, the OS temp dir.
	WorkDir string
	// AllowForks is PANDA_ALLOW_FORKS: "true" lets people with write permission
	// /deploy pull requests from forks (their code then runs in Panda's builds).
	// If unset, false.
	AllowForks bool
	// MetricsAddr is PANDA_WORKER_METRICS_ADDR, where the worker serves /metrics
	// and /healthz. If unset, :9091; "off" serves nothing.
	MetricsAddr string
	// Buildkit chooses the builder: unset, the Docker engine's own BuildKit.
	Buildkit Buildkit
	// BuildNetwork is PANDA_BUILD_NETWORK, the network RUN steps get on the engine
	// builder ("default", "none"). If unset, the engine's default.
	BuildNetwork string
}

// Buildkit is a standalone buildkitd shared by the workers. Addr empty means none:
// the worker builds on its Docker engine.
type Buildkit struct {
	// Addr is PANDA_BUILDKIT_ADDR: unix:///path/buildkitd.sock or tcp://host:port.
	Addr string
	// CA, Cert and Key are PANDA_BUILDKIT_CA, PANDA_BUILDKIT_CERT and
	// PANDA_BUILDKIT_KEY, paths of PEM files for mutual TLS; all three are
	// required with a tcp:// address (buildkitd's builds run the code of any
	// pushed commit, so its port must not be open to whoever reaches it) and
	// refused with unix://, where the socket's permissions guard it.
	CA, Cert, Key string
	// ServerName is PANDA_BUILDKIT_SERVER_NAME, the name in buildkitd's
	// certificate. If unset, the address's host.
	ServerName string
}

// LoadApp reads the app's configuration.
func LoadApp(env Lookup) (App, error) {
	r := reader{env: env}
	cfg := App{
		Common:        r.common(),
		Addr:          r.str("PANDA_ADDR", ":8080"),
		WebhookSecret: Secret(r.required("GITHUB_WEBHOOK_SECRET")),
		APITokens:     r.apiTokens(),
		CORSOrigins:   r.corsOrigins(),
		SwaggerUIDir:  r.str("PANDA_SWAGGER_UI_DIR", ""),
	}
	return cfg, r.err
}

// LoadWorker reads the worker's configuration.
func LoadWorker(env Lookup) (Worker, error) {
	r := reader{env: env}
	cfg := Worker{
		Common:          r.common(),
		Concurrency:     r.int("PANDA_WORKER_CONCURRENCY", 4, 1, 256),
		DeployTimeout:   r.duration("PANDA_DEPLOY_TIMEOUT", 30*time.Minute),
		BuildTimeout:    r.duration("PANDA_BUILD_TIMEOUT", 20*time.Minute),
		MaxContextBytes: int64(r.int("PANDA_MAX_CONTEXT_MB", 500, 1, 1<<20)) << 20,
		WorkDir:         r.str("PANDA_WORK_DIR", os.TempDir()),
		MetricsAddr:     r.str("PANDA_WORKER_METRICS_ADDR", ":9091"),
		AllowForks:      r.bool("PANDA_ALLOW_FORKS"),
		Buildkit:        r.buildkit(),
		BuildNetwork:    r.str("PANDA_BUILD_NETWORK", ""),
	}
	if n := cfg.BuildNetwork; n != "" && n != "default" && n != "none" && r.err == nil {
		r.err = errors.New("PANDA_BUILD_NETWORK must be default or none")
	}
	if cfg.GitHub.AppID == 0 && r.err == nil {
		r.err = errors.New("GITHUB_APP_ID is required")
	}
	return cfg, r.err
}

// buildkit reads the buildkitd address and its TLS files.
func (r *reader) buildkit() Buildkit {
	b := Buildkit{
		Addr:       r.str("PANDA_BUILDKIT_ADDR", ""),
		CA:         r.str("PANDA_BUILDKIT_CA", ""),
		Cert:       r.str("PANDA_BUILDKIT_CERT", ""),
		Key:        r.str("PANDA_BUILDKIT_KEY", ""),
		ServerName: r.str("PANDA_BUILDKIT_SERVER_NAME", ""),
	}
	tls := b.CA != "" || b.Cert != "" || b.Key != ""
	u, err := url.Parse(b.Addr)
	switch {
	case b.Addr == "":
		if tls {
			r.fail("PANDA_BUILDKIT_CA, _CERT and _KEY need PANDA_BUILDKIT_ADDR")
		}
	case err != nil || (u.Scheme != "unix" && u.Scheme != "tcp"):
		r.fail("PANDA_BUILDKIT_ADDR must be unix:///path or tcp://host:port")
	case u.Scheme == "unix" && u.Path == "":
		r.fail("PANDA_BUILDKIT_ADDR must be unix:///path or tcp://host:port")
	case u.Scheme == "unix" && tls:
		r.fail("PANDA_BUILDKIT_CA, _CERT and _KEY are for a tcp:// PANDA_BUILDKIT_ADDR")
	case u.Scheme == "tcp" && (u.Port() == "" || u.Hostname() == ""):
		r.fail("PANDA_BUILDKIT_ADDR must be unix:///path or tcp://host:port")
	case u.Scheme == "tcp" && (b.CA == "" || b.Cert == "" || b.Key == ""):
		r.fail("PANDA_BUILDKIT_ADDR over tcp needs PANDA_BUILDKIT_CA, PANDA_BUILDKIT_CERT and PANDA_BUILDKIT_KEY (mutual TLS)")
	case u.Scheme == "tcp" && b.ServerName == "":
		b.ServerName = u.Hostname()
	}
	return b
}

// reader accumulates the first error so the loaders read like a list of fields.
type reader struct {
	env Lookup
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) str(key, def string) string {
	if v, ok := r.env(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *reader) required(key string) string {
	v := r.str(key, "")
	if v == "" {
		r.fail("%s is required", key)
	}
	return v
}

func (r *reader) int(key string, def, lo, hi int) int {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail("%s must be a whole number from %d to %d", key, lo, hi)
		return def
	}
	return n
}

func (r *reader) bool(key string) bool {
	switch strings.ToLower(r.str(key, "false")) {
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	}
	r.fail("%s must be true or false", key)
	return false
}

func (r *reader) duration(key string, def time.Duration) time.Duration {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail("%s must be a positive duration such as 30m", key)
		return def
	}
	return d
}

func (r *reader) url(key, def string) string {
	v := strings.TrimRight(r.str(key, def), "/")
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		// Never echo the value: a URL with userinfo carries a password.
		r.fail("%s must be an http(s) URL without credentials", key)
	}
	return v
}

func (r *reader) common() Common {
	return Common{
		RedisURL:      r.redisURL(),
		GitHub:        r.github(),
		PublicURL:     r.url("PANDA_PUBLIC_URL", "http://localhost:8080"),
		EncryptionKey: r.encryptionKey(),
		LogLevel:      r.logLevel(),
		// 400 days: a year's review, with a month to spare.
		AuditRetention: r.days("PANDA_AUDIT_RETENTION", 400*24*time.Hour),
	}
}

func (r *reader) redisURL() string {
	v := r.str("PANDA_REDIS_URL", "redis://127.0.0.1:6379/0")
	u, err := url.Parse(v)
	switch {
	case err != nil:
		r.fail("PANDA_REDIS_URL is not a URL")
	case u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix" && u.Scheme != "redis-cluster" && u.Scheme != "rediss-cluster":
		r.fail("PANDA_REDIS_URL must be a redis://, rediss://, unix://, redis-cluster:// or rediss-cluster:// URL")
	}
	return v
}

func (r *reader) github() GitHub {
	gh := GitHub{
		URL:    r.url("GITHUB_URL", "https://github.com"),
		APIURL: r.url("GITHUB_API_URL", "https://api.github.com"),
	}
	if v := r.str("GITHUB_APP_ID", ""); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			r.fail("GITHUB_APP_ID must be a positive whole number")
		}
		gh.AppID = id
	}
	gh.PrivateKey = r.privateKey()
	if gh.AppID != 0 && gh.PrivateKey == "" {
		r.fail("GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE is required with GITHUB_APP_ID")
	}
	return gh
}

func (r *reader) privateKey() Secret {
	pemText := r.str("GITHUB_APP_PRIVATE_KEY", "")
	key := "GITHUB_APP_PRIVATE_KEY"
	if path := r.str("GITHUB_APP_PRIVATE_KEY_FILE", ""); path != "" {
		if pemText != "" {
			r.fail("set GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE, not both")
			return ""
		}
		data, err := os.ReadFile(path) // #nosec G304 -- the operator names the key file.
		if err != nil {
			r.fail("GITHUB_APP_PRIVATE_KEY_FILE: cannot read the file: %v", errors.Unwrap(err))
			return ""
		}
		pemText, key = string(data), "GITHUB_APP_PRIVATE_KEY_FILE"
	}
	if pemText == "" {
		return ""
	}
	// Environment variables often carry the PEM with literal \n.
	pemText = strings.ReplaceAll(pemText, `\n`, "\n")
	if !validRSAKey([]byte(pemText)) {
		r.fail("%s is not a PEM-encoded RSA private key", key)
	}
	return Secret(pemText)
}

func validRSAKey(data []byte) bool {
	block, _ := pem.Decode(data)
	if block == nil {
		return false
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return true
	}
	_, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	return err == nil
}

func (r *reader) encryptionKey() Secret {
	v := r.str("PANDA_ENCRYPTION_KEY", "")
	if v == "" {
		return ""
	}
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(key) != 32 {
		r.fail("PANDA_ENCRYPTION_KEY must be 32 bytes in standard base64 (openssl rand -base64 32)")
		return ""
	}
	return Secret(key)
}

func (r *reader) logLevel() string {
	v := strings.ToLower(r.str("PANDA_LOG_LEVEL", "info"))
	switch v {
	case "debug", "info", "warn", "error":
		return v
	}
	r.fail("PANDA_LOG_LEVEL must be debug, info, warn or error")
	return "info"
}

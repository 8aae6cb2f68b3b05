package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func testKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}

func env(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadApp(t *testing.T) {
	t.Parallel()
	key := testKeyPEM(t)
	base := func() map[string]string {
		return map[string]string{
			"GITHUB_WEBHOOK_SECRET":  "hook-secret",
			"PANDA_API_TOKEN":        "0123456789abcdef",
			"GITHUB_APP_ID":          "42",
			"GITHUB_APP_PRIVATE_KEY": strings.ReplaceAll(key, "\n", `\n`),
		}
	}
	tests := []struct {
		name    string
		change  map[string]string
		wantErr string
	}{
		{name: "defaults", change: nil},
		{name: "missing-secret", change: map[string]string{"GITHUB_WEBHOOK_SECRET": ""}, wantErr: "GITHUB_WEBHOOK_SECRET is required"},
		{name: "missing-token", change: map[string]string{"PANDA_API_TOKEN": ""}, wantErr: "PANDA_API_TOKEN or PANDA_API_TOKENS is required"},
		{name: "named-tokens-only", change: map[string]string{"PANDA_API_TOKEN": "", "PANDA_API_TOKENS": "ci:hunter2hunter2hunter2,dash:0123456789abcdefX"}},
		{name: "named-token-short", change: map[string]string{"PANDA_API_TOKENS": "ci:hunter2"}, wantErr: "the token of ci must be at least 16"},
		{name: "named-token-no-name", change: map[string]string{"PANDA_API_TOKENS": "hunter2hunter2hunter2"}, wantErr: "PANDA_API_TOKENS entry 1 must be name:token"},
		{name: "named-token-bad-name", change: map[string]string{"PANDA_API_TOKENS": "CI Bot:hunter2hunter2hunter2"}, wantErr: "entry 1 must be name:token"},
		{name: "named-token-twice", change: map[string]string{"PANDA_API_TOKENS": "ci:hunter2hunter2hunter2,ci:hunter2hunter2hunter3"}, wantErr: "names ci twice"},
		{name: "named-token-default-twice", change: map[string]string{"PANDA_API_TOKENS": "default:hunter2hunter2hunter2"}, wantErr: "names default twice"},
		{name: "same-token-two-callers", change: map[string]string{"PANDA_API_TOKENS": "ci:hunter2hunter2hunter2,dash:hunter2hunter2hunter2"}, wantErr: "the token of dash is also another caller's"},
		{name: "cors", change: map[string]string{"PANDA_CORS_ORIGINS": "https://dash.example.com, http://127.0.0.1:3000"}},
		{name: "cors-star", change: map[string]string{"PANDA_CORS_ORIGINS": "*"}, wantErr: "PANDA_CORS_ORIGINS"},
		{name: "cors-path", change: map[string]string{"PANDA_CORS_ORIGINS": "https://dash.example.com/"}, wantErr: "PANDA_CORS_ORIGINS"},
		{name: "cors-scheme", change: map[string]string{"PANDA_CORS_ORIGINS": "dash.example.com"}, wantErr: "PANDA_CORS_ORIGINS"},
		{name: "cors-userinfo", change: map[string]string{"PANDA_CORS_ORIGINS": "https://u:hunter2@dash.example.com"}, wantErr: "PANDA_CORS_ORIGINS"},
		{name: "retention-days", change: map[string]string{"PANDA_AUDIT_RETENTION": "30d"}},
		{name: "retention-hours", change: map[string]string{"PANDA_AUDIT_RETENTION": "720h"}},
		{name: "retention-bad", change: map[string]string{"PANDA_AUDIT_RETENTION": "-3d"}, wantErr: "PANDA_AUDIT_RETENTION"},
		{name: "short-token", change: map[string]string{"PANDA_API_TOKEN": "short"}, wantErr: "PANDA_API_TOKEN must be at least 16"},
		{name: "bad-app-id", change: map[string]string{"GITHUB_APP_ID": "x1"}, wantErr: "GITHUB_APP_ID must be"},
		{name: "bad-key", change: map[string]string{"GITHUB_APP_PRIVATE_KEY": "not a key"}, wantErr: "GITHUB_APP_PRIVATE_KEY is not a PEM"},
		{name: "key-file-missing", change: map[string]string{"GITHUB_APP_PRIVATE_KEY": "", "GITHUB_APP_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, wantErr: "GITHUB_APP_PRIVATE_KEY_FILE: cannot read"},
		{name: "bad-redis", change: map[string]string{"PANDA_REDIS_URL": "http://x"}, wantErr: "PANDA_REDIS_URL"},
		{name: "public-url-with-password", change: map[string]string{"PANDA_PUBLIC_URL": "https://u:hunter2@x"}, wantErr: "PANDA_PUBLIC_URL must be an http(s) URL"},
		{name: "bad-encryption-key", change: map[string]string{"PANDA_ENCRYPTION_KEY": "c2hvcnQ="}, wantErr: "PANDA_ENCRYPTION_KEY must be 32 bytes"},
		{name: "good-encryption-key", change: map[string]string{"PANDA_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}},
		{name: "bad-log-level", change: map[string]string{"PANDA_LOG_LEVEL": "loud"}, wantErr: "PANDA_LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := base()
			for k, v := range tt.change {
				m[k] = v
			}
			cfg, err := LoadApp(env(m))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadApp: %v", err)
				}
				if cfg.Addr != ":8080" || cfg.RedisURL != "redis://127.0.0.1:6379/0" || cfg.GitHub.APIURL != "https://api.github.com" {
					t.Errorf("defaults not applied: %+v", cfg)
				}
				checkApp(t, tt.name, cfg)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "0123456789abcdef") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error must be one line without secrets: %q", err)
			}
		})
	}
}

// checkApp checks what the valid cases of TestLoadApp set.
func checkApp(t *testing.T, name string, cfg App) {
	t.Helper()
	var callers []string
	for _, tok := range cfg.APITokens {
		callers = append(callers, tok.Name+"="+tok.Token.Reveal())
	}
	want := map[string]string{
		"defaults":          "[default=0123456789abcdef]",
		"named-tokens-only": "[ci=hunter2hunter2hunter2 dash=0123456789abcdefX]",
	}[name]
	if want != "" && fmt.Sprint(callers) != want {
		t.Errorf("callers %v, want %s", callers, want)
	}
	if s := fmt.Sprint(cfg.APITokens); strings.Contains(s, "hunter2") || strings.Contains(s, "0123456789abcdef") {
		t.Errorf("tokens print: %s", s)
	}
	wantRetention := map[string]time.Duration{"retention-days": 30 * 24 * time.Hour, "retention-hours": 720 * time.Hour}[name]
	if wantRetention == 0 {
		wantRetention = 400 * 24 * time.Hour
	}
	if cfg.AuditRetention != wantRetention {
		t.Errorf("audit retention %v, want %v", cfg.AuditRetention, wantRetention)
	}
	wantCORS := map[string]string{"cors": "[https://dash.example.com http://127.0.0.1:3000]"}[name]
	if wantCORS == "" {
		wantCORS = "[]"
	}
	if fmt.Sprint(cfg.CORSOrigins) != wantCORS {
		t.Errorf("CORS origins %v, want %s", cfg.CORSOrigins, wantCORS)
	}
}

func TestLoadWorker(t *testing.T) {
	t.Parallel()
	key := testKeyPEM(t)
	cfg, err := LoadWorker(env(map[string]string{"GITHUB_APP_ID": "7", "GITHUB_APP_PRIVATE_KEY": key, "PANDA_DEPLOY_TIMEOUT": "45m"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DeployTimeout != 45*time.Minute || cfg.Concurrency != 4 || cfg.MaxContextBytes != 500<<20 {
		t.Errorf("unexpected worker config: %+v", cfg)
	}
	if _, err := LoadWorker(env(map[string]string{})); err == nil || !strings.Contains(err.Error(), "GITHUB_APP_ID is required") {
		t.Errorf("worker without app id: err = %v", err)
	}
	if _, err := LoadWorker(env(map[string]string{"GITHUB_APP_ID": "7", "GITHUB_APP_PRIVATE_KEY": key, "PANDA_WORKER_CONCURRENCY": "0"})); err == nil {
		t.Error("concurrency 0 accepted")
	}
}

func TestLoadWorkerBuildkit(t *testing.T) {
	t.Parallel()
	key := testKeyPEM(t)
	tests := []struct {
		name    string
		vars    map[string]string
		want    Buildkit
		wantErr string
	}{
		{name: "engine_by_default", want: Buildkit{}},
		{name: "unix", vars: map[string]string{"PANDA_BUILDKIT_ADDR": "unix:///run/buildkit/buildkitd.sock"}, want: Buildkit{Addr: "unix:///run/buildkit/buildkitd.sock"}},
		{
			name: "tcp_mtls",
			vars: map[string]string{"PANDA_BUILDKIT_ADDR": "tcp://buildkit.internal:1234", "PANDA_BUILDKIT_CA": "/ca.pem", "PANDA_BUILDKIT_CERT": "/c.pem", "PANDA_BUILDKIT_KEY": "/k.pem"},
			want: Buildkit{Addr: "tcp://buildkit.internal:1234", CA: "/ca.pem", Cert: "/c.pem", Key: "/k.pem", ServerName: "buildkit.internal"},
		},
		{name: "tcp_without_tls", vars: map[string]string{"PANDA_BUILDKIT_ADDR": "tcp://buildkit.internal:1234"}, wantErr: "needs PANDA_BUILDKIT_CA"},
		{name: "tcp_without_port", vars: map[string]string{"PANDA_BUILDKIT_ADDR": "tcp://buildkit.internal", "PANDA_BUILDKIT_CA": "a", "PANDA_BUILDKIT_CERT": "b", "PANDA_BUILDKIT_KEY": "c"}, wantErr: "must be unix:///path or tcp://host:port"},
		{name: "http_scheme", vars: map[string]string{"PANDA_BUILDKIT_ADDR": "http://x:1"}, wantErr: "must be unix:///path or tcp://host:port"},
		{name: "tls_with_unix", vars: map[string]string{"PANDA_BUILDKIT_ADDR": "unix:///s", "PANDA_BUILDKIT_CA": "a"}, wantErr: "are for a tcp://"},
		{name: "tls_without_addr", vars: map[string]string{"PANDA_BUILDKIT_CERT": "a"}, wantErr: "need PANDA_BUILDKIT_ADDR"},
		{name: "network", vars: map[string]string{"PANDA_BUILD_NETWORK": "host"}, wantErr: "PANDA_BUILD_NETWORK must be default or none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"GITHUB_APP_ID": "7", "GITHUB_APP_PRIVATE_KEY": key}
			for k, v := range tt.vars {
				vars[k] = v
			}
			cfg, err := LoadWorker(env(vars))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg.Buildkit != tt.want {
				t.Errorf("Buildkit = %+v, %v; want %+v", cfg.Buildkit, err, tt.want)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := Secret("hunter2")
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %v %+v %#v %q", s, s, s, s, s)
	j, _ := json.Marshal(struct{ S Secret }{s})
	sb.Write(j)
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("x", "secret", s)
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "secret", s)
	if strings.Contains(sb.String(), "hunter2") {
		t.Fatalf("secret leaked: %s", sb.String())
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal lost the value")
	}
}

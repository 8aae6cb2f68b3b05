package redact_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/redact"
)

// statelessToken has the shape of GitHub's installation tokens since April
// 2026: ghs_APPID_JWT, about 520 characters, dots and underscores in it.
const statelessToken = "ghs_123456_eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Imluc3RhbGxhdGlvbiJ9." +
	"eyJpc3MiOjEyMzQ1Niwic3ViIjoiaW5zdGFsbGF0aW9uOjciLCJqdGkiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsImV4cCI6MTc5MDAwMDAwMH0." +
	"c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl" +
	"c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl" +
	"c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl_-c2lnbmF0dXJl"

func TestPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "installation_token", in: "token ghs_16C7e42F292c6912E7710c838347Ae178B4a used", want: "token [REDACTED] used"},
		{name: "stateless_installation_token", in: "remote: " + statelessToken + " denied", want: "remote: [REDACTED] denied"},
		{name: "stateless_token_in_url", in: "fatal: https://x-access-token:" + statelessToken + "@github.com/o/r.git", want: "fatal: https://x-access-token:[REDACTED]@github.com/o/r.git"},
		{name: "personal_token", in: "ghp_16C7e42F292c6912E7710c838347Ae178B4a", want: "[REDACTED]"},
		{name: "oauth_user_refresh", in: "gho_16C7e42F292c6912E7710c838347Ae178B4a ghu_16C7e42F292c6912E7710c838347Ae178B4a ghr_16C7e42F292c6912E7710c838347Ae178B4a", want: "[REDACTED] [REDACTED] [REDACTED]"},
		{name: "fine_grained_pat", in: "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", want: "[REDACTED]"},
		{name: "url_password", in: "fatal: https://x-access-token:s3cr3t@github.com/o/r.git", want: "fatal: https://x-access-token:[REDACTED]@github.com/o/r.git"},
		{name: "authorization_header", in: "> Authorization: Bearer abc.def", want: "> Authorization: [REDACTED]"},
		{name: "registry_auth_json", in: `{"X-Registry-Auth":"eyJ1c2VybmFtZSI6IkFXUyJ9"}`, want: `{"X-Registry-Auth":"[REDACTED]"}`},
		{name: "jwt", in: "jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2lnbmF0dXJl", want: "jwt [REDACTED]"},
		{name: "ecr_token", in: "QVdTOnBhc3N3b3JkcGFzc3dvcmRwYXNzd29yZA==", want: "[REDACTED]"},
		{name: "aws_key_id", in: "AKIAIOSFODNN7EXAMPLE", want: "[REDACTED]"},
		{name: "harmless", in: "Step 2/5 : RUN go build ./... sha256:abc https://github.com/o/r", want: "Step 2/5 : RUN go build ./... sha256:abc https://github.com/o/r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact.Patterns(tt.in); got != tt.want {
				t.Errorf("Patterns(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	var r redact.Redactor
	// Secrets no pattern knows: a registry password, a webhook secret.
	r.Add("hunter2-registry-password", "whsec-0123456789", "short")
	got := r.String("login with hunter2-registry-password failed; hmac key whsec-0123456789; short stays")
	if want := "login with [REDACTED] failed; hmac key [REDACTED]; short stays"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	var nilR *redact.Redactor
	if got := nilR.String("ghs_16C7e42F292c6912E7710c838347Ae178B4a"); got != redact.Mark {
		t.Fatalf("a nil Redactor still redacts by pattern: %q", got)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var r redact.Redactor
	r.Add("registry-pa55word")
	log := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), &r)).With("auth", "Bearer "+statelessToken)
	log.Info("push with registry-pa55word",
		"err", errors.New("clone https://x-access-token:"+statelessToken+"@github.com/o/r.git: exit 128"),
		slog.Group("req", "password", "registry-pa55word", "attempt", 2))
	out := buf.String()
	for _, secret := range []string{"registry-pa55word", "ghs_", "eyJ", "_-c2lnbmF0dXJl"} {
		if strings.Contains(out, secret) {
			t.Errorf("log leaks %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, `"attempt":2`) || !strings.Contains(out, "x-access-token:[REDACTED]@github.com") {
		t.Errorf("log lost what is not secret: %s", out)
	}
}

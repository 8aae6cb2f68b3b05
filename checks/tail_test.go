package checks

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain", in: "Step 1/3 : FROM scratch", want: "Step 1/3 : FROM scratch"},
		{name: "newline", in: "done\n", want: "done"},
		{name: "ansi", in: "\x1b[1;31merror\x1b[0m: boom", want: "error: boom"},
		{name: "progress", in: "10%\r50%\r100%", want: "100%"},
		{name: "crlf", in: "ok\r\n", want: "ok"},
		{name: "invalid_utf8", in: "a\xffb", want: "a\uFFFDb"},
		{name: "long", in: strings.Repeat("x", maxLineChars+10), want: strings.Repeat("x", maxLineChars-1) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := cleanLine(tt.in); got != tt.want {
				t.Errorf("cleanLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTailBounded(t *testing.T) {
	t.Parallel()
	var tl tail
	if tl.text() != "" {
		t.Fatal("empty tail has text")
	}
	line := strings.Repeat("é", maxLineChars+5) // multi-byte, and cut
	for range 100 {
		tl.add(line)
	}
	tl.add("last")
	text := tl.text()
	if n := utf8.RuneCountInString(text); n > maxOutputChars {
		t.Errorf("text has %d characters, GitHub takes %d", n, maxOutputChars)
	}
	if tl.dropped == 0 || !strings.HasPrefix(text, "_") || !strings.HasSuffix(text, "\nlast\n```") {
		t.Errorf("dropped %d; text starts %q, ends %q", tl.dropped, text[:40], text[len(text)-20:])
	}
	if tl.chars > maxTailChars {
		t.Errorf("tail holds %d characters, bound %d", tl.chars, maxTailChars)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "installation_token", in: "token ghs_16C7e42F292c6912E7710c838347Ae178B4a used", want: "token [REDACTED] used"},
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
			if got := redact(tt.in); got != tt.want {
				t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

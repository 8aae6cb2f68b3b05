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
	line := strings.Repeat("é", maxLineBytes) // multi-byte, and cut at a rune
	keep := func(s string) string { return s }
	for range 100 {
		tl.add(line, keep)
	}
	tl.add("last", keep)
	text := tl.text()
	if n := len(text); n > maxOutputBytes || !utf8.ValidString(text) {
		t.Errorf("text has %d bytes (valid UTF-8: %t), GitHub takes %d", n, utf8.ValidString(text), maxOutputBytes)
	}
	if first := tl.lines[0]; len(first) > maxLineBytes || !strings.HasSuffix(first, "é…") {
		t.Errorf("a long line is kept as %d bytes ending %q", len(first), first[len(first)-8:])
	}
	if tl.dropped == 0 || !strings.HasPrefix(text, "_") || !strings.HasSuffix(text, "\nlast\n```") {
		t.Errorf("dropped %d; text starts %q, ends %q", tl.dropped, text[:40], text[len(text)-20:])
	}
	if tl.bytes > maxTailBytes {
		t.Errorf("tail holds %d bytes, bound %d", tl.bytes, maxTailBytes)
	}
}

func TestTailCountsRedactedLines(t *testing.T) {
	t.Parallel()
	var tl tail
	// A redaction that lengthens each line must not push the text past
	// GitHub's limit: the tail counts lines as they will be sent.
	grow := func(s string) string { return s + strings.Repeat("+", 500) }
	for range 1000 {
		tl.add("x", grow)
	}
	if n := len(tl.text()); n > maxOutputBytes {
		t.Fatalf("text has %d bytes, GitHub takes %d", n, maxOutputBytes)
	}
}

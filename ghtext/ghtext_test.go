package ghtext_test

import (
	"testing"
	"unicode/utf8"

	"github.com/pandadeploy/panda/ghtext"
)

func TestHeadAndTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		s        string
		n        int
		wantHead string
		wantTail string
	}{
		{name: "fits", s: "한국어", n: 9, wantHead: "한국어", wantTail: "한국어"},
		{name: "hangul_one_byte_short", s: "한국어", n: 8, wantHead: "한…", wantTail: "…어"},
		{name: "emoji", s: "🐼🐼🐼", n: 10, wantHead: "🐼…", wantTail: "…🐼"},
		{name: "tail_starts_at_a_line", s: "first line\nsecond\nthird", n: 12, wantHead: "first lin…", wantTail: "…third"},
		{name: "tiny_limit", s: "한국어", n: 2, wantHead: "", wantTail: ""},
		{name: "invalid_utf8_replaced", s: "a\xffb", n: 10, wantHead: "a\uFFFDb", wantTail: "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ghtext.Head(tt.s, tt.n); got != tt.wantHead {
				t.Errorf("Head = %q, want %q", got, tt.wantHead)
			}
			if got := ghtext.Tail(tt.s, tt.n); got != tt.wantTail {
				t.Errorf("Tail = %q, want %q", got, tt.wantTail)
			}
		})
	}
}

func FuzzLimits(f *testing.F) {
	f.Add("빌드 로그 🐼 line\nmore", 7)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = (n%70000 + 70000) % 70000
		for _, got := range []string{ghtext.Head(s, n), ghtext.Tail(s, n)} {
			if len(got) > n || !utf8.ValidString(got) {
				t.Fatalf("%q (%d bytes) for n=%d", got, len(got), n)
			}
		}
		if len(s) <= n && utf8.ValidString(s) && ghtext.Head(s, n) != s {
			t.Fatal("Head changed a string that fits")
		}
	})
}

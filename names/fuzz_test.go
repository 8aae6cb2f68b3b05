package names_test

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pandadeploy/panda/names"
)

// FuzzBranch checks that whatever Branch accepts is safe to hand to git as a
// branch name: no option, no revision syntax, no traversal, no control
// character; and that Ref accepts it under refs/heads/.
func FuzzBranch(f *testing.F) {
	for _, s := range []string{"main", "feature/x", "-x", "--upload-pack=x", "a..b", "a@{1}", "@", "HEAD",
		"a/.b", "a.lock", "a//b", "a/", "/a", "a.", "a b", "a\x00b", "ma\u200bin", "mаin", "\xff", "a~1", "a^{}", "refs/heads/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if names.Branch(s) != nil {
			return
		}
		if s[0] == '-' || s == "HEAD" {
			t.Fatalf("accepted %q", s)
		}
		checkRefShape(t, s)
		if len(s) <= 255-len("refs/heads/") {
			if err := names.Ref("refs/heads/" + s); err != nil {
				t.Fatalf("Branch accepted %q but Ref refused refs/heads/%s: %v", s, s, err)
			}
		}
	})
}

// FuzzRef checks that whatever Ref accepts is a full ref git would accept.
func FuzzRef(f *testing.F) {
	for _, s := range []string{"refs/heads/main", "refs/tags/v1", "refs/", "refs", "main", "refs/heads/../x",
		"refs/heads/a.lock", "refs//x", "refs/heads/x\n", "--upload-pack=x", "refs/heads/@{u}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if names.Ref(s) != nil {
			return
		}
		if !strings.HasPrefix(s, "refs/") || len(s) == len("refs/") {
			t.Fatalf("accepted %q", s)
		}
		checkRefShape(t, s)
	})
}

// checkRefShape fails unless s follows git check-ref-format's rules and
// Panda's bounds.
func checkRefShape(t *testing.T, s string) {
	t.Helper()
	switch {
	case s == "" || s == "@" || len(s) > 255 || !utf8.ValidString(s):
		t.Fatalf("accepted %q", s)
	case strings.Contains(s, "..") || strings.Contains(s, "@{") || strings.Contains(s, "//"):
		t.Fatalf("accepted %q", s)
	case strings.ContainsAny(s, " ~^:?*[\\\x00\n\r\t\x7f\u202e\u200b"):
		t.Fatalf("accepted %q", s)
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.HasSuffix(s, "."):
		t.Fatalf("accepted %q", s)
	}
	for _, part := range strings.Split(s, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			t.Fatalf("accepted %q", s)
		}
	}
}

// FuzzDockerfile checks that whatever Dockerfile accepts stays inside the
// repository once joined to it, and is never an option.
func FuzzDockerfile(f *testing.F) {
	for _, s := range []string{"Dockerfile", "./docker/Dockerfile", "../x", "a/../../x", "/etc/passwd", "-f", "./-f",
		"a\x00b", "a\nb", ".", "./", "a//b", "..", "...", "a/..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		clean, err := names.Dockerfile(s)
		if err != nil {
			return
		}
		joined := path.Join("/repo", clean)
		switch {
		case !strings.HasPrefix(joined, "/repo/"):
			t.Fatalf("%q leaves the repository: %s", s, joined)
		case clean != path.Clean(clean) || strings.HasPrefix(clean, "-") || strings.HasPrefix(clean, "/"):
			t.Fatalf("%q cleaned to %q", s, clean)
		case strings.ContainsAny(clean, "\x00\n\r"):
			t.Fatalf("%q keeps a control character", s)
		}
		if again, err := names.Dockerfile(clean); err != nil || again != clean {
			t.Fatalf("Dockerfile(%q) = %q, %v; cleaning is not stable", clean, again, err)
		}
	})
}

// FuzzStateMachineARN checks that an accepted ARN is consistent: a real
// partition, its own region, a 12-digit account, and it prints back as given.
func FuzzStateMachineARN(f *testing.F) {
	for _, s := range []string{"arn:aws:states:us-east-1:123456789012:stateMachine:m",
		"arn:aws-cn:states:cn-north-1:123456789012:stateMachine:m:1", "arn:aws-foo:states:us-east-1:123456789012:stateMachine:m",
		"arn:aws:states:us-east-1:123:stateMachine:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := names.StateMachineARN(s)
		if err != nil {
			return
		}
		if p, ok := names.Partition(a.Region); !ok || p != a.Partition || a.String() != s || len(a.Account) != 12 {
			t.Fatalf("accepted inconsistent %q as %+v", s, a)
		}
	})
}

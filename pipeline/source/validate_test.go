package source_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/source"
)

func TestCheckBranch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		branch string
		ok     bool
	}{
		{branch: "main", ok: true},
		{branch: "feature/x-1_2", ok: true},
		{branch: "release/v1.2.3", ok: true},
		{branch: "日本語", ok: true},
		{branch: "", ok: false},
		{branch: "-main", ok: false},
		{branch: "--upload-pack=touch /tmp/pwned", ok: false},
		{branch: "a..b", ok: false},
		{branch: "a/../b", ok: false},
		{branch: "/main", ok: false},
		{branch: "main/", ok: false},
		{branch: "a//b", ok: false},
		{branch: "main.", ok: false},
		{branch: "main.lock", ok: false},
		{branch: "a/b.lock/c", ok: false},
		{branch: ".hidden", ok: false},
		{branch: "a/.b", ok: false},
		{branch: "a@{1}", ok: false},
		{branch: "@", ok: false},
		{branch: "HEAD", ok: false},
		{branch: "a b", ok: false},
		{branch: "a~1", ok: false},
		{branch: "a^", ok: false},
		{branch: "a:b", ok: false},
		{branch: "a?", ok: false},
		{branch: "a*", ok: false},
		{branch: "a[b", ok: false},
		{branch: `a\b`, ok: false},
		{branch: "a\x00b", ok: false},
		{branch: "a\nb", ok: false},
		{branch: "a\x7fb", ok: false},
		{branch: "\xff", ok: false},
		{branch: strings.Repeat("a", 256), ok: false},
	}
	for _, tt := range tests {
		if err := source.CheckBranch(tt.branch); (err == nil) != tt.ok {
			t.Errorf("CheckBranch(%q) = %v, want ok=%v", tt.branch, err, tt.ok)
		}
	}
}

func TestCheckRepo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		repo string
		ok   bool
	}{
		{repo: "octo/app", ok: true},
		{repo: "Octo-Cat/my_app.js", ok: true},
		{repo: "octo/.github", ok: true},
		{repo: "octo", ok: false},
		{repo: "octo/app/x", ok: false},
		{repo: "a/../b", ok: false},
		{repo: "octo/..", ok: false},
		{repo: "octo/.", ok: false},
		{repo: "octo/a..b", ok: false},
		{repo: "-x/app", ok: false},
		{repo: ".x/app", ok: false},
		{repo: "octo/-app", ok: false},
		{repo: "octo/", ok: false},
		{repo: "/app", ok: false},
		{repo: "octo/a b", ok: false},
		{repo: "octo/a%2fb", ok: false},
		{repo: strings.Repeat("o", 40) + "/app", ok: false},
	}
	for _, tt := range tests {
		if err := source.CheckRepo(tt.repo); (err == nil) != tt.ok {
			t.Errorf("CheckRepo(%q) = %v, want ok=%v", tt.repo, err, tt.ok)
		}
	}
}

func TestCheckSHA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sha string
		ok  bool
	}{
		{sha: strings.Repeat("a1", 20), ok: true},
		{sha: strings.Repeat("0f", 32), ok: true},
		{sha: strings.Repeat("A1", 20), ok: false},
		{sha: "abc1234", ok: false},
		{sha: "-x", ok: false},
		{sha: strings.Repeat("a", 41), ok: false},
		{sha: strings.Repeat("g", 40), ok: false},
		{sha: "HEAD", ok: false},
	}
	for _, tt := range tests {
		if err := source.CheckSHA(tt.sha); (err == nil) != tt.ok {
			t.Errorf("CheckSHA(%q) = %v, want ok=%v", tt.sha, err, tt.ok)
		}
	}
}

func TestSafePath(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for name, content := range map[string]string{"Dockerfile": "FROM scratch", "docker/Dockerfile": "FROM scratch"} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"inside":     "docker/Dockerfile",
		"abs_out":    filepath.Join(outside, "secret"),
		"rel_out":    "../" + filepath.Base(outside) + "/secret",
		"dir_out":    outside,
		"etc_passwd": "/etc/passwd",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		rel      string
		want     string // relative to root; "" means an error
		notExist bool
	}{
		{name: "plain", rel: "Dockerfile", want: "Dockerfile"},
		{name: "nested", rel: "docker/Dockerfile", want: "docker/Dockerfile"},
		{name: "dot_slash", rel: "./docker/Dockerfile", want: "docker/Dockerfile"},
		{name: "symlink_inside", rel: "inside", want: "docker/Dockerfile"},
		{name: "symlink_absolute_outside", rel: "abs_out"},
		{name: "symlink_relative_outside", rel: "rel_out"},
		{name: "through_dir_symlink", rel: "dir_out/secret"},
		{name: "etc_passwd", rel: "etc_passwd"},
		{name: "dotdot", rel: "../" + filepath.Base(outside) + "/secret"},
		{name: "dotdot_inside", rel: "docker/../Dockerfile"},
		{name: "absolute", rel: "/etc/passwd"},
		{name: "nul", rel: "Docker\x00file"},
		{name: "empty", rel: ""},
		{name: "missing", rel: "nope/Dockerfile", notExist: true},
	}
	realRoot, _ := filepath.EvalSymlinks(root)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := source.SafePath(root, tt.rel)
			if tt.want != "" {
				if want := filepath.Join(realRoot, tt.want); err != nil || got != want {
					t.Fatalf("SafePath = %q, %v; want %q", got, err, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("SafePath = %q, want an error", got)
			}
			if !pipeline.IsPermanent(err) {
				t.Errorf("error %v is not permanent", err)
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", !tt.notExist, tt.notExist)
			}
		})
	}
}

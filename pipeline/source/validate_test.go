package source_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/source"
)

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

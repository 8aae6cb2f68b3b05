package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/buildkit/client"

	"github.com/pandadeploy/panda/pipeline"
)

func TestParseInstructions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []instruction
	}{
		{
			name: "comments_and_blank_lines",
			src:  "# comment\n\nFROM scratch\n  # indented comment\nCOPY a /\n",
			want: []instruction{{Line: 3, Text: "FROM scratch"}, {Line: 5, Text: "COPY a /"}},
		},
		{
			name: "continuation_skips_comments_and_blanks",
			src:  "FROM x\nRUN a \\\n  # note\n\n  b \\\n  c\nCMD d\n",
			want: []instruction{{Line: 1, Text: "FROM x"}, {Line: 2, Text: "RUN a b c"}, {Line: 7, Text: "CMD d"}},
		},
		{
			name: "escape_directive",
			src:  "# escape=`\nFROM x\nRUN a `\n  b\nRUN c\\\nRUN d\n",
			want: []instruction{{Line: 2, Text: "FROM x"}, {Line: 3, Text: "RUN a b"}, {Line: 5, Text: `RUN c\`}, {Line: 6, Text: "RUN d"}},
		},
		{
			name: "directive_after_instruction_is_a_comment",
			src:  "FROM x\n# escape=`\nRUN a \\\n b\n",
			want: []instruction{{Line: 1, Text: "FROM x"}, {Line: 3, Text: "RUN a b"}},
		},
		{
			name: "crlf",
			src:  "FROM x\r\nRUN a \\\r\n b\r\n",
			want: []instruction{{Line: 1, Text: "FROM x"}, {Line: 2, Text: "RUN a b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := parseInstructions([]byte(tt.src)); !slices.Equal(got, tt.want) {
				t.Errorf("parseInstructions = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriteContextEntries(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(name, content string) {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\n")
	write("app/main.go", "package main\n")
	write("node_modules/x/index.js", "x")
	write(".dockerignore", "node_modules\n")
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "passwd-link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := writeContext(&buf, root, "Dockerfile", 1<<20); err != nil {
		t.Fatalf("writeContext: %v", err)
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = hdr
	}
	names := slices.Sorted(maps.Keys(got))
	want := []string{".dockerignore", "Dockerfile", "app/", "app/main.go", "passwd-link"}
	if !slices.Equal(names, want) {
		t.Errorf("tar entries = %q, want %q (no fifo, nothing ignored)", names, want)
	}
	if link := got["passwd-link"]; link == nil || link.Typeflag != tar.TypeSymlink || link.Linkname != "/etc/passwd" {
		t.Errorf("passwd-link entry = %+v, want a symlink to /etc/passwd, not the file's content", link)
	}
	if main := got["app/main.go"]; main == nil || main.Uid != 0 || main.Gid != 0 || main.Uname != "" {
		t.Errorf("app/main.go entry = %+v, want owned by root", main)
	}
}

func TestWriteContextLimit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, name := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(root, name), bytes.Repeat([]byte("x"), 600), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := writeContext(io.Discard, root, "Dockerfile", 1000)
	if !errors.Is(err, errContextTooLarge) || !pipeline.IsPermanent(err) {
		t.Fatalf("writeContext over the limit = %v, want a permanent errContextTooLarge", err)
	}
	if err := writeContext(io.Discard, root, "Dockerfile", 1200); err != nil {
		t.Errorf("writeContext at the limit = %v, want nil", err)
	}
}

func TestStepFailure(t *testing.T) {
	t.Parallel()
	src := "FROM x AS build\nRUN a \\\n  b\nRUN c\nFROM scratch\nCOPY --from=build /c /\nRUN c\n"
	tests := []struct {
		name       string
		vertex     string // the failed vertex's name; "" for none
		sourceLine int
		msg        string
		wantLine   int
		wantText   string
	}{
		{name: "source_map", sourceLine: 4, vertex: "[build 3/3] RUN c", msg: "exit code: 1", wantLine: 4, wantText: "RUN c"},
		{name: "vertex_in_named_stage", vertex: "[build 3/3] RUN c", msg: "exit code: 1", wantLine: 4, wantText: "RUN c"},
		{name: "vertex_in_unnamed_stage", vertex: "[stage-1 2/2] RUN c", msg: "exit code: 1", wantLine: 7, wantText: "RUN c"},
		{name: "vertex_with_platform_and_padding", vertex: "[linux/arm64 build  2/3] RUN a b", msg: "exit code: 1", wantLine: 2, wantText: "RUN a b"},
		{name: "vertex_with_expanded_variable", vertex: "[stage-1 1/2] COPY --from=build /c /", msg: "not found", wantLine: 6},
		{name: "line_in_message", msg: "dockerfile parse error line 4: unknown instruction: RUNN", wantLine: 4, wantText: "RUN c"},
		{name: "nothing_known", msg: "boom", wantLine: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &prepared{dockerfile: "Dockerfile", instructions: parseInstructions([]byte(src))}
			if tt.vertex != "" {
				p.progress = &progress{failed: []*client.Vertex{{Name: "importing cache manifest from x", Error: "not found"}, {Name: tt.vertex, Error: tt.msg}}}
			}
			var err error = p.stepFailure(tt.msg, tt.sourceLine)
			var se *StepError
			if !errors.As(err, &se) || !pipeline.IsPermanent(err) {
				t.Fatalf("stepFailure = %v, want a permanent *StepError", err)
			}
			if se.Line != tt.wantLine || tt.wantText != "" && se.Instruction != tt.wantText {
				t.Errorf("StepError = %+v, want line %d %q", se, tt.wantLine, tt.wantText)
			}
			if msg := pipeline.UserMessage(err, ""); !strings.Contains(msg, tt.msg) {
				t.Errorf("user message %q lacks the builder's message", msg)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	auth := registryAuth{host: "r.example", username: "AWS", password: "pw-123"}
	in := "denied for pw-123 and " + "QVdTOnB3LTEyMw==" // base64("AWS:pw-123")
	if got := auth.redact(in); strings.Contains(got, "pw-123") || strings.Contains(got, "QVdTOnB3LTEyMw==") {
		t.Errorf("redact(%q) = %q, still holds the secret", in, got)
	}
}

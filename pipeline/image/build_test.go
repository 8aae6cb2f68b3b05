package image_test

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	dockerimage "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/image"
)

func TestBuildFromScratchStreamsLog(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	dir := writeTree(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY hello.txt /\n",
		"hello.txt":  "hello\n",
	})
	tag := testTag(t, cli, "scratch")
	var log logLines
	labels := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/octo/app",
		"org.opencontainers.image.revision": "3f2c9e1",
	}

	res, err := (&image.Builder{Engine: cli, NetworkMode: "none"}).Build(context.Background(), image.BuildRequest{
		Dir: dir, Tags: []string{tag}, Labels: labels, OnLog: log.add,
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	inspect, err := cli.ImageInspect(context.Background(), tag)
	if err != nil {
		t.Fatalf("inspect %s: %v", tag, err)
	}
	if res.ImageID != inspect.ID {
		t.Errorf("ImageID = %q, want the tagged image %q", res.ImageID, inspect.ID)
	}
	if res.Dockerfile != "Dockerfile" {
		t.Errorf("Dockerfile = %q, want Dockerfile", res.Dockerfile)
	}
	for k, v := range labels {
		if got := inspect.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	if !slices.ContainsFunc(log.all(), func(l string) bool {
		return strings.HasPrefix(l, "#") && strings.HasSuffix(l, "] COPY hello.txt /")
	}) {
		t.Errorf("log lacks the COPY step; got %q", log.all())
	}
}

func TestBuildHonoursDockerignore(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	dir := writeTree(t, map[string]string{
		// The ignore file excludes itself and the Dockerfile: both must be sent anyway
		// (the build would fail without the Dockerfile), and the engine leaves them out.
		".dockerignore":  "*.env\nlogs\n!logs/keep.log\nDockerfile\n.dockerignore\n",
		"Dockerfile":     "FROM scratch\nCOPY . /ctx/\n",
		"keep.txt":       "kept",
		"secret.env":     "TOKEN=x",
		"logs/debug.log": "noise",
		"logs/keep.log":  "kept",
	})
	tag := testTag(t, cli, "ignore")

	if _, err := (&image.Builder{Engine: cli, NetworkMode: "none"}).Build(context.Background(), image.BuildRequest{Dir: dir, Tags: []string{tag}}); err != nil {
		t.Fatalf("Build: %v", err)
	}
	// The Dockerfile and .dockerignore travel in the tar the engine reads the
	// Dockerfile from, and the engine's BuildKit leaves them in a remote context
	// (unlike the classic builder): only what .dockerignore excludes is asserted.
	got := slices.DeleteFunc(imageFiles(t, cli, tag), func(f string) bool { return f == "ctx/Dockerfile" || f == "ctx/.dockerignore" })
	want := []string{"ctx/keep.txt", "ctx/logs/keep.log"}
	if !slices.Equal(got, want) {
		t.Errorf("files in image = %q, want %q", got, want)
	}
}

func TestBuildFindsDockerfile(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	tests := []struct {
		name       string
		files      map[string]string
		dockerfile string
		want       string
	}{
		{name: "docker_dir", files: map[string]string{"docker/Dockerfile": "FROM scratch\nLABEL x=y\n"}, want: "docker/Dockerfile"},
		{name: "deployment_dir", files: map[string]string{"deployment/Dockerfile": "FROM scratch\nLABEL x=y\n"}, want: "deployment/Dockerfile"},
		{
			name:  "root_wins",
			files: map[string]string{"Dockerfile": "FROM scratch\nLABEL x=y\n", "docker/Dockerfile": "FROM nothing-here\n"},
			want:  "Dockerfile",
		},
		{
			name:       "named",
			files:      map[string]string{"Dockerfile": "FROM nothing-here\n", "app/Containerfile": "FROM scratch\nLABEL x=y\n"},
			dockerfile: "app/Containerfile",
			want:       "app/Containerfile",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := (&image.Builder{Engine: cli, NetworkMode: "none"}).Build(context.Background(), image.BuildRequest{
				Dir: writeTree(t, tt.files), Dockerfile: tt.dockerfile, Tags: []string{testTag(t, cli, tt.name)},
			})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if res.Dockerfile != tt.want {
				t.Errorf("Dockerfile = %q, want %q", res.Dockerfile, tt.want)
			}
		})
	}
}

func TestBuildFailingStepNamesItsLine(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	base := dockertest.BusyboxBase(t, cli)
	tests := []struct {
		name        string
		dockerfile  string
		wantLine    int
		wantInstr   string
		wantMessage string
	}{
		{
			name: "run_false_after_continuation",
			dockerfile: "# escape=\\\n# a comment\nFROM " + base + "\n\nRUN echo one && \\\n" +
				"    # dropped by the parser\n    echo two\nRUN echo three && \\\n    false\nRUN echo never\n",
			wantLine:    8,
			wantInstr:   "RUN echo three && false",
			wantMessage: "exit code: 1",
		},
		{
			name:        "copy_missing_file",
			dockerfile:  "FROM scratch\nCOPY missing.txt /\n",
			wantLine:    2,
			wantInstr:   "COPY missing.txt /",
			wantMessage: "missing.txt",
		},
		{
			name:        "unknown_instruction",
			dockerfile:  "FROM scratch\nFROBNICATE now\n",
			wantLine:    2,
			wantMessage: "FROBNICATE",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log logLines
			_, err := (&image.Builder{Engine: cli, NetworkMode: "none"}).Build(context.Background(), image.BuildRequest{
				Dir: writeTree(t, map[string]string{"Dockerfile": tt.dockerfile}), OnLog: log.add,
			})
			var step *image.StepError
			if !errors.As(err, &step) {
				t.Fatalf("Build error = %v, want a *StepError", err)
			}
			if !pipeline.IsPermanent(err) {
				t.Errorf("Build error is not permanent: %v", err)
			}
			if step.Line != tt.wantLine || step.Dockerfile != "Dockerfile" {
				t.Errorf("failing step at %s:%d, want Dockerfile:%d", step.Dockerfile, step.Line, tt.wantLine)
			}
			if tt.wantInstr != "" && step.Instruction != tt.wantInstr {
				t.Errorf("Instruction = %q, want %q", step.Instruction, tt.wantInstr)
			}
			if !strings.Contains(step.Message, tt.wantMessage) {
				t.Errorf("Message = %q, want it to mention %q", step.Message, tt.wantMessage)
			}
			if msg := pipeline.UserMessage(err, ""); !strings.Contains(msg, "line") || !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("user message %q should name the line and the cause", msg)
			}
		})
	}
}

func TestBuildRefusesBadRequests(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		files   map[string]string
		links   map[string]string
		req     image.BuildRequest
		wantMsg string
	}{
		{name: "no_dockerfile", files: map[string]string{"README": "hi"}, wantMsg: "no Dockerfile found"},
		{name: "named_missing", req: image.BuildRequest{Dockerfile: "app/Dockerfile"}, wantMsg: "no Dockerfile at app/Dockerfile"},
		{name: "parent_path", req: image.BuildRequest{Dockerfile: "../../etc/passwd"}, wantMsg: "inside the repository"},
		{name: "absolute_path", req: image.BuildRequest{Dockerfile: "/etc/passwd"}, wantMsg: "must be relative to the repository root"},
		{
			name:    "symlink_out",
			links:   map[string]string{"Dockerfile": filepath.Join(outside, "Dockerfile")},
			wantMsg: "leads outside the repository",
		},
		{name: "directory", files: map[string]string{"Dockerfile/x": ""}, wantMsg: "is not a file"},
		{
			name:    "secret_build_arg",
			files:   map[string]string{"Dockerfile": "FROM scratch\n"},
			req:     image.BuildRequest{BuildArgs: map[string]string{"VERSION": "1", "NPM_TOKEN": "x"}},
			wantMsg: "build arg NPM_TOKEN looks like a credential",
		},
		{
			name:    "bad_tag",
			files:   map[string]string{"Dockerfile": "FROM scratch\n"},
			req:     image.BuildRequest{Tags: []string{"app:feature/x"}},
			wantMsg: `invalid image tag "app:feature/x"`,
		},
		{
			name:    "unknown_target",
			files:   map[string]string{"Dockerfile": "FROM scratch AS base\nFROM base AS app\n"},
			req:     image.BuildRequest{Target: "nope"},
			wantMsg: "target nope: Dockerfile has no such stage (it has base, app)",
		},
		{
			name:    "unknown_platform",
			files:   map[string]string{"Dockerfile": "FROM scratch\n"},
			req:     image.BuildRequest{Platform: "windows/amd64"},
			wantMsg: `platform "windows/amd64" is not supported: use one of linux/amd64, linux/arm64`,
		},
		{
			name:    "missing_secret",
			files:   map[string]string{"Dockerfile": "FROM scratch\n"},
			req:     image.BuildRequest{SecretNames: []string{"npm_token"}, SecretSource: mapSecrets{}},
			wantMsg: "build secret npm_token is not configured",
		},
		{
			name:    "no_secret_source",
			files:   map[string]string{"Dockerfile": "FROM scratch\n"},
			req:     image.BuildRequest{SecretNames: []string{"npm_token"}},
			wantMsg: "build secrets (npm_token) are not available",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := tt.req
			req.Dir = writeTree(t, tt.files)
			for name, target := range tt.links {
				if err := os.Symlink(target, filepath.Join(req.Dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := (&image.Builder{Engine: unusedEngine{t}}).Build(context.Background(), req)
			if !pipeline.IsPermanent(err) {
				t.Fatalf("Build error = %v, want a permanent error", err)
			}
			if msg := pipeline.UserMessage(err, ""); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("user message = %q, want it to contain %q", msg, tt.wantMsg)
			}
		})
	}
}

func TestBuildContextOverLimit(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	dir := writeTree(t, map[string]string{
		"Dockerfile": "FROM scratch\n",
		"big.bin":    strings.Repeat("x", 8<<10),
	})
	_, err := (&image.Builder{Engine: cli, NetworkMode: "none", MaxContextBytes: 4 << 10}).Build(context.Background(), image.BuildRequest{Dir: dir})
	if !pipeline.IsPermanent(err) {
		t.Fatalf("Build error = %v, want a permanent error", err)
	}
	if msg := pipeline.UserMessage(err, ""); msg != "build context is larger than 4096 bytes" {
		t.Errorf("user message = %q", msg)
	}
}

func TestBuildTimeout(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	base := dockertest.BusyboxBase(t, cli)
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN sleep 30\n"})
	start := time.Now()
	_, err := (&image.Builder{Engine: cli, NetworkMode: "none", Timeout: 2 * time.Second}).Build(context.Background(), image.BuildRequest{Dir: dir})
	if !pipeline.IsPermanent(err) || pipeline.UserMessage(err, "") != "build did not finish within 2s" {
		t.Fatalf("Build error = %v, want the timeout as a user error", err)
	}
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("Build returned after %s, long after its 2s timeout", elapsed)
	}
}

func TestBuildEngineUnavailable(t *testing.T) {
	t.Parallel()
	cli, err := client.NewClientWithOpts(
		client.WithHost("unix://"+filepath.Join(t.TempDir(), "no-docker.sock")),
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	_, err = (&image.Builder{Engine: cli, NetworkMode: "none"}).Build(context.Background(), image.BuildRequest{Dir: dir})
	if err == nil || pipeline.IsPermanent(err) {
		t.Fatalf("Build error = %v, want a transient error", err)
	}
	if msg := pipeline.UserMessage(err, ""); msg != "Docker engine unavailable" {
		t.Errorf("user message = %q", msg)
	}
}

// unusedEngine fails the test if a request that should have been refused reaches
// the engine.
type unusedEngine struct{ t *testing.T }

func (e unusedEngine) ImageBuild(context.Context, io.Reader, build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	e.t.Error("ImageBuild called for a request that should have been refused")
	return build.ImageBuildResponse{}, errors.New("unused engine")
}

func (e unusedEngine) ImageInspect(context.Context, string, ...client.ImageInspectOption) (dockerimage.InspectResponse, error) {
	e.t.Error("ImageInspect called")
	return dockerimage.InspectResponse{}, errors.New("unused engine")
}

func (e unusedEngine) ImageTag(context.Context, string, string) error {
	e.t.Error("ImageTag called")
	return errors.New("unused engine")
}

func (e unusedEngine) ImagePush(context.Context, string, dockerimage.PushOptions) (io.ReadCloser, error) {
	e.t.Error("ImagePush called")
	return nil, errors.New("unused engine")
}

// logLines collects OnLog lines; Build calls OnLog from its caller's goroutine, the
// mutex only keeps the race detector honest about that claim.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// writeTree creates files (slash-separated paths relative to a new directory) and
// returns the directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testTag returns a unique local tag and removes whatever it names when the test ends.
func testTag(t *testing.T, cli *client.Client, name string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	tag := "panda-test/image-" + strings.ToLower(strings.ReplaceAll(name, "_", "-")) + ":" + hex.EncodeToString(b)
	t.Cleanup(func() { removeImage(cli, tag) })
	return tag
}

func removeImage(cli *client.Client, ref string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Untag only, never delete: tests here and in other packages build identical
	// steps at the same time, and the classic builder's cache hands all of them
	// the same image ids, so deleting "this test's" image can pull a layer from
	// under a concurrent build. The engine's images are the test run's to keep.
	if inspect, err := cli.ImageInspect(ctx, ref); err == nil && len(inspect.RepoTags) > 1 {
		cli.ImageRemove(ctx, ref, dockerimage.RemoveOptions{PruneChildren: false})
	}
}

// imageFiles lists the regular files in the layers of ref, sorted, read from the
// engine's image export (docker save), which holds manifest.json and layer tars.
func imageFiles(t *testing.T, cli *client.Client, ref string) []string {
	t.Helper()
	return slices.Sorted(maps.Keys(imageFileContents(t, cli, ref)))
}

// imageFileContents returns the regular files in the layers of ref with their
// contents, later layers winning.
func imageFileContents(t *testing.T, cli *client.Client, ref string) map[string]string {
	t.Helper()
	rc, err := cli.ImageSave(context.Background(), []string{ref})
	if err != nil {
		t.Fatalf("save %s: %v", ref, err)
	}
	defer rc.Close()
	blobs := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read image export: %v", err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if blobs[hdr.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(blobs["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("image export manifest.json: %v (%d entries)", err, len(manifest))
	}
	files := map[string]string{}
	for _, layer := range manifest[0].Layers {
		lr := tar.NewReader(strings.NewReader(string(blobs[layer])))
		for {
			hdr, err := lr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read layer %s: %v", layer, err)
			}
			if hdr.Typeflag == tar.TypeReg {
				b, _ := io.ReadAll(lr)
				files[hdr.Name] = string(b)
			}
		}
	}
	return files
}

func (e unusedEngine) ServerVersion(context.Context) (types.Version, error) {
	e.t.Error("ServerVersion called")
	return types.Version{}, errors.New("unused engine")
}

func (e unusedEngine) DialHijack(context.Context, string, string, map[string][]string) (net.Conn, error) {
	e.t.Error("DialHijack called")
	return nil, errors.New("unused engine")
}

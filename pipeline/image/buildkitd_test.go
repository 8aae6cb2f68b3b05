package image_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"

	"github.com/pandadeploy/panda/internal/buildkittest"
	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/registrytest"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/image"
)

// feature is a Dockerfile that needs BuildKit, and the files its image must hold.
// Each Dockerfile names its base as BASE; its last stage copies its results to
// /out of a scratch image, so the test reads them from the image's layers.
type feature struct {
	name       string
	dockerfile string
	files      map[string]string // extra context files
	req        image.BuildRequest
	want       map[string]string // out/FILE -> content
	// newFrontend marks syntax that the Dockerfile frontend built into Docker
	// 20.10 lacks (heredocs, COPY --link: dockerfile 1.4); such an engine must
	// refuse it as the user's error naming the line.
	newFrontend bool
}

var features = []feature{
	{
		name:       "run_mount_cache",
		dockerfile: "FROM BASE AS w\nRUN --mount=type=cache,target=/cache echo warm > /cache/x && mkdir /out && cat /cache/x > /out/cache\nFROM scratch\nCOPY --from=w /out /out\n",
		want:       map[string]string{"out/cache": "warm\n"},
	},
	{
		name:       "run_mount_bind",
		dockerfile: "FROM BASE AS w\nRUN --mount=type=bind,source=data.txt,target=/d mkdir /out && cat /d > /out/bind\nFROM scratch\nCOPY --from=w /out /out\n",
		files:      map[string]string{"data.txt": "bound"},
		want:       map[string]string{"out/bind": "bound"},
	},
	{
		name:       "copy_chmod_and_from",
		dockerfile: "FROM BASE AS w\nCOPY --chmod=0751 run.sh /out/run.sh\nRUN ls -l /out/run.sh | cut -c1-10 > /out/mode\nFROM scratch\nCOPY --from=w /out /out\n",
		files:      map[string]string{"run.sh": "#!/bin/sh\n"},
		want:       map[string]string{"out/run.sh": "#!/bin/sh\n", "out/mode": "-rwxr-x--x\n"},
	},
	{
		name:        "copy_link",
		dockerfile:  "FROM scratch\nCOPY --link a.txt /out/a\n",
		files:       map[string]string{"a.txt": "linked"},
		want:        map[string]string{"out/a": "linked"},
		newFrontend: true,
	},
	{
		name:        "heredoc",
		dockerfile:  "FROM BASE AS w\nRUN <<EOF\nmkdir /out\necho from heredoc > /out/h\nEOF\nFROM scratch\nCOPY --from=w /out /out\n",
		want:        map[string]string{"out/h": "from heredoc\n"},
		newFrontend: true,
	},
	{
		name:       "platform_args",
		dockerfile: "FROM BASE AS w\nARG TARGETARCH\nARG TARGETPLATFORM\nRUN mkdir /out && echo $TARGETPLATFORM $TARGETARCH > /out/p\nFROM scratch\nCOPY --from=w /out /out\n",
		want:       map[string]string{"out/p": "linux/amd64 amd64\n"},
	},
	{
		name: "unused_stage_skipped_and_target",
		dockerfile: "FROM BASE AS broken\nRUN false\nFROM BASE AS w\nARG GREETING\nRUN mkdir /out && echo $GREETING > /out/g\n" +
			"FROM scratch AS app\nCOPY --from=w /out /out\nFROM scratch AS other\nCOPY --from=broken /nothing /\n",
		req:  image.BuildRequest{Target: "app", BuildArgs: map[string]string{"GREETING": "hello"}},
		want: map[string]string{"out/g": "hello\n"},
	},
}

func TestBuildkitdFeatures(t *testing.T) {
	// Not parallel with the other buildkitd tests: each has its own registry,
	// and buildkitd fetches a base layer it has seen lazily, by digest, from the
	// registry it first saw it in, which another test may have closed.
	env := newBuildkitEnv(t)
	for i, f := range features {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			repo := fmt.Sprintf("feature-%d", i)
			res, err := env.build(t, f.dockerfile, f.files, f.req, repo)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			env.assertPushed(t, res, repo)
			files := readPushed(t, env.reg, repo, "3f2c9e1").files
			for name, want := range f.want {
				if got := files[name]; got != want {
					t.Errorf("image file %s = %q, want %q (files %v)", name, got, want, keys(files))
				}
			}
		})
	}
}

func TestEngineFeatures(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	base := dockertest.BusyboxBase(t, cli)
	version, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	oldFrontend := strings.HasPrefix(version.Version, "20.") || strings.HasPrefix(version.Version, "19.")
	for _, f := range features {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"Dockerfile": strings.ReplaceAll(f.dockerfile, "BASE", base)}
			for k, v := range f.files {
				files[k] = v
			}
			req := f.req
			req.Dir = writeTree(t, files)
			req.Tags = []string{testTag(t, cli, f.name)}
			_, err := (&image.Builder{Engine: cli, NetworkMode: "none"}).Build(context.Background(), req)
			if f.newFrontend && oldFrontend {
				var step *image.StepError
				if !errors.As(err, &step) || !pipeline.IsPermanent(err) || step.Line == 0 {
					t.Fatalf("engine %s: Build error = %v, want the user's error naming the line", version.Version, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got := imageFileContents(t, cli, req.Tags[0])
			for name, want := range f.want {
				if got[name] != want {
					t.Errorf("image file %s = %q, want %q", name, got[name], want)
				}
			}
		})
	}
}

func TestBuildkitdFailingStepAnnotation(t *testing.T) {
	// Not parallel: see TestBuildkitdFeatures.
	env := newBuildkitEnv(t)
	var log logLines
	df := "FROM BASE AS w\nRUN echo building\nRUN echo one && \\\n    false\nFROM scratch\nCOPY --from=w /bin/busybox /\n"
	_, err := env.build(t, df, nil, image.BuildRequest{OnLog: log.add}, "failing")
	var step *image.StepError
	if !errors.As(err, &step) || !pipeline.IsPermanent(err) {
		t.Fatalf("Build error = %v, want a permanent *StepError", err)
	}
	if step.Line != 3 || step.Instruction != "RUN echo one && false" || !strings.Contains(step.Message, "exit code: 1") {
		t.Errorf("StepError = %+v, want line 3, the RUN, exit code 1", step)
	}
	if !slices.ContainsFunc(log.all(), func(l string) bool { return strings.HasPrefix(l, "#") && strings.Contains(l, "RUN echo building") }) {
		t.Errorf("log lacks the RUN step; got %q", log.all())
	}

	for _, tt := range []struct {
		name, dockerfile, wantMessage string
		wantLine                      int
	}{
		{name: "copy_missing_file", dockerfile: "FROM scratch\nLABEL a=b\nCOPY missing.txt /\n", wantLine: 3, wantMessage: "missing.txt"},
		{name: "unknown_instruction", dockerfile: "FROM scratch\nFROBNICATE now\n", wantLine: 2, wantMessage: "frobnicate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.build(t, tt.dockerfile, nil, image.BuildRequest{}, "failing")
			var step *image.StepError
			if !errors.As(err, &step) || !pipeline.IsPermanent(err) {
				t.Fatalf("Build error = %v, want a permanent *StepError", err)
			}
			if step.Line != tt.wantLine || !strings.Contains(strings.ToLower(step.Message), tt.wantMessage) {
				t.Errorf("StepError = %+v, want line %d and %q", step, tt.wantLine, tt.wantMessage)
			}
		})
	}
}

func TestBuildkitdRegistryCacheWarmsAFreshBuilder(t *testing.T) {
	// Not parallel: see TestBuildkitdFeatures.
	env := newBuildkitEnv(t)
	// A unique RUN, so no earlier build in the shared buildkitd has it cached.
	df := fmt.Sprintf("FROM BASE AS w\nRUN mkdir /out && echo %d > /out/n\nFROM scratch\nCOPY --from=w /out /out\n", time.Now().UnixNano())
	if _, err := env.build(t, df, nil, image.BuildRequest{}, "cached"); err != nil {
		t.Fatalf("first Build: %v", err)
	}
	if _, err := env.reg.ManifestDigest(image.CacheRepositoryName("cached"), image.DefaultCacheTag); err != nil {
		t.Fatalf("no build cache in the registry: %v", err)
	}
	// Drop buildkitd's local cache of that step: only the registry can warm it now.
	if err := env.bk.Prune(context.Background(), nil, bkclient.PruneAll); err != nil {
		t.Fatalf("prune: %v", err)
	}
	var log logLines
	if _, err := env.build(t, df, nil, image.BuildRequest{OnLog: log.add}, "cached"); err != nil {
		t.Fatalf("second Build: %v", err)
	}
	lines := log.all()
	runID := ""
	for _, l := range lines {
		if strings.Contains(l, "] RUN mkdir /out") {
			runID, _, _ = strings.Cut(l, " ")
		}
	}
	if runID == "" || !slices.Contains(lines, runID+" CACHED") {
		t.Errorf("the RUN step was not served from the registry cache; log %q", lines)
	}
}

func TestBuildkitdSecretUsableAndAbsent(t *testing.T) {
	// Not parallel: see TestBuildkitdFeatures.
	env := newBuildkitEnv(t)
	const value = "s3cr3t-build-value-4711"
	df := "FROM BASE AS w\nRUN --mount=type=secret,id=npm_token mkdir /out && wc -c < /run/secrets/npm_token > /out/len && cat /run/secrets/npm_token\n" +
		"FROM scratch\nCOPY --from=w /out /out\n"
	var log logLines
	req := image.BuildRequest{SecretNames: []string{"npm_token"}, SecretSource: mapSecrets{"npm_token": value}, OnLog: log.add}
	res, err := env.build(t, df, nil, req, "secret")
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	env.assertPushed(t, res, "secret")
	img := readPushed(t, env.reg, "secret", "3f2c9e1")
	if got := strings.TrimSpace(img.files["out/len"]); got != fmt.Sprint(len(value)) {
		t.Errorf("the RUN step read %s bytes of the secret, want %d", got, len(value))
	}
	if img.contains(t, value) {
		t.Error("the secret's value is in the pushed image")
	}
	if slices.ContainsFunc(log.all(), func(l string) bool { return strings.Contains(l, value) }) {
		t.Error("the secret's value is in the build log")
	}

	// A secret .panda.yml names that nobody configured is the user's to fix.
	req.SecretSource = mapSecrets{}
	_, err = env.build(t, df, nil, req, "secret")
	if !pipeline.IsPermanent(err) || pipeline.UserMessage(err, "") != "build secret npm_token is not configured" {
		t.Errorf("Build with a missing secret = %v", err)
	}
}

func TestBuildkitdPlatform(t *testing.T) {
	// Not parallel: see TestBuildkitdFeatures.
	env := newBuildkitEnv(t)
	workers, err := env.bk.ListWorkers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	canArm := false
	for _, w := range workers {
		for _, p := range w.Platforms {
			canArm = canArm || (p.Architecture == "arm64")
		}
	}
	df := "FROM scratch\nCOPY a.txt /a\n"
	res, err := env.build(t, df, map[string]string{"a.txt": "a"}, image.BuildRequest{Platform: "linux/arm64"}, "arm")
	if !canArm {
		if !pipeline.IsPermanent(err) || !strings.Contains(pipeline.UserMessage(err, ""), "cannot build for linux/arm64") {
			t.Fatalf("Build for arm64 on an amd64-only builder = %v, want a clear user error", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	env.assertPushed(t, res, "arm")
	if got := readPushed(t, env.reg, "arm", "3f2c9e1").config.Architecture; got != "arm64" {
		t.Errorf("pushed image architecture = %q, want arm64", got)
	}
}

// buildkitEnv is a buildkitd, a registry that demands ECR-style credentials, and
// the busybox base pushed to it.
type buildkitEnv struct {
	bk     *bkclient.Client
	reg    *registrytest.Registry
	base   string
	pusher *image.Pusher
}

func newBuildkitEnv(t *testing.T) *buildkitEnv {
	t.Helper()
	bk := buildkittest.Client(t)
	cli := dockertest.Client(t)
	reg := registrytest.New(t, registrytest.Options{Username: testUser, Password: testPassword})
	base := buildkittest.PushBusybox(t, cli, reg.Host(), "base", testUser, testPassword)
	ecrFake := newFakeECR(reg.URL(), testPassword, time.Now().Add(12*time.Hour))
	return &buildkitEnv{
		bk: bk, reg: reg, base: base,
		pusher: &image.Pusher{ECR: ecrFake, STS: &fakeSTS{}}, // Destination uses no engine
	}
}

// build builds dockerfile (BASE replaced by the base image) with the buildkitd
// builder, pushing to repo with tags 3f2c9e1 and latest-main.
func (e *buildkitEnv) build(t *testing.T, dockerfile string, files map[string]string, req image.BuildRequest, repo string) (image.BuildResult, error) {
	t.Helper()
	return e.buildWith(t, &image.BuildkitBuilder{Client: e.bk}, dockerfile, files, req, repo)
}

// buildWith is build with a builder of the test's own.
func (e *buildkitEnv) buildWith(t *testing.T, b *image.BuildkitBuilder, dockerfile string, files map[string]string, req image.BuildRequest, repo string) (image.BuildResult, error) {
	t.Helper()
	tree := map[string]string{"Dockerfile": strings.ReplaceAll(dockerfile, "BASE", e.base)}
	for k, v := range files {
		tree[k] = v
	}
	dest, err := e.pusher.Destination(context.Background(), repo, []string{"3f2c9e1", "latest-main"})
	if err != nil {
		t.Fatalf("Destination: %v", err)
	}
	req.Dir = writeTree(t, tree)
	req.Push = &dest
	return b.Build(context.Background(), req)
}

// assertPushed checks that the result names what the registry holds.
func (e *buildkitEnv) assertPushed(t *testing.T, res image.BuildResult, repo string) {
	t.Helper()
	if res.Pushed == nil {
		t.Fatal("BuildResult.Pushed is nil: the buildkitd builder must push")
	}
	for _, tag := range []string{"3f2c9e1", "latest-main"} {
		stored, err := e.reg.ManifestDigest(repo, tag)
		if err != nil {
			t.Fatalf("registry has no %s:%s: %v", repo, tag, err)
		}
		if stored != res.Pushed.Digest {
			t.Errorf("registry holds %s:%s as %s, the build reported %s", repo, tag, stored, res.Pushed.Digest)
		}
	}
	if want := e.reg.Host() + "/" + repo + "@" + res.Pushed.Digest; res.Pushed.ImageURI != want {
		t.Errorf("ImageURI = %q, want %q", res.Pushed.ImageURI, want)
	}
}

type mapSecrets map[string]string

func (m mapSecrets) BuildSecret(_ context.Context, name string) ([]byte, error) {
	v, ok := m[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(v), nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestEngineSecretUsableAndAbsent(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	base := dockertest.BusyboxBase(t, cli)
	const value = "engine-s3cr3t-value-0815"
	df := "FROM " + base + " AS w\nRUN --mount=type=secret,id=npm_token mkdir /out && wc -c < /run/secrets/npm_token > /out/len && cat /run/secrets/npm_token\n" +
		"FROM scratch\nCOPY --from=w /out /out\n"
	var log logLines
	tag := testTag(t, cli, "secret")
	_, err := (&image.Builder{Engine: cli, NetworkMode: "none"}).Build(context.Background(), image.BuildRequest{
		Dir: writeTree(t, map[string]string{"Dockerfile": df}), Tags: []string{tag},
		SecretNames: []string{"npm_token"}, SecretSource: mapSecrets{"npm_token": value}, OnLog: log.add,
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	files := imageFileContents(t, cli, tag)
	if got := strings.TrimSpace(files["out/len"]); got != fmt.Sprint(len(value)) {
		t.Errorf("the RUN step read %s bytes of the secret, want %d", got, len(value))
	}
	for name, content := range files {
		if strings.Contains(content, value) {
			t.Errorf("the secret's value is in the image, in %s", name)
		}
	}
	inspect, err := cli.ImageInspect(context.Background(), tag)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(inspect.Config) != "" && strings.Contains(fmt.Sprintf("%+v", inspect.Config), value) {
		t.Error("the secret's value is in the image config")
	}
	if slices.ContainsFunc(log.all(), func(l string) bool { return strings.Contains(l, value) }) {
		t.Error("the secret's value is in the build log")
	}
}

func TestEnginePlatformItCannotBuild(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	v, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other := "linux/arm64"
	if v.Arch == "arm64" {
		other = "linux/amd64"
	}
	_, err = (&image.Builder{Engine: cli}).Build(context.Background(), image.BuildRequest{
		Dir: writeTree(t, map[string]string{"Dockerfile": "FROM scratch\nLABEL x=y\n"}), Platform: other,
	})
	if !pipeline.IsPermanent(err) || !strings.Contains(pipeline.UserMessage(err, ""), "cannot build for "+other) {
		t.Fatalf("Build for %s = %v, want a clear user error", other, err)
	}
	// An engine declared able to (binfmt emulation) is asked; FROM scratch needs no
	// emulation, so the image comes out with the requested architecture.
	tag := testTag(t, cli, "platform")
	_, err = (&image.Builder{Engine: cli, Platforms: []string{"linux/amd64", "linux/arm64"}}).Build(context.Background(), image.BuildRequest{
		Dir: writeTree(t, map[string]string{"Dockerfile": "FROM scratch\nLABEL x=y\n"}), Platform: other, Tags: []string{tag},
	})
	if err != nil {
		t.Fatalf("Build for %s on a declared engine: %v", other, err)
	}
	inspect, err := cli.ImageInspect(context.Background(), tag)
	if err != nil {
		t.Fatal(err)
	}
	if "linux/"+inspect.Architecture != other {
		t.Errorf("image architecture = %s, want %s", inspect.Architecture, other)
	}
}

func TestBuildkitdLimits(t *testing.T) {
	// Not parallel: see TestBuildkitdFeatures.
	env := newBuildkitEnv(t)
	tests := []struct {
		name       string
		dockerfile string
		files      map[string]string
		builder    image.BuildkitBuilder
		wantMsg    string
	}{
		// No entitlement is granted: a build cannot join the host's network or
		// run privileged, and no SSH agent of the worker is forwarded.
		{name: "network_host", dockerfile: "FROM BASE\nRUN --network=host true\n", wantMsg: "network.host is not allowed"},
		{name: "ssh_agent", dockerfile: "FROM BASE\nRUN --mount=type=ssh,required=true true\n", wantMsg: "ssh"},
		{name: "context_size", dockerfile: "FROM scratch\nCOPY . /\n", files: map[string]string{"big.bin": strings.Repeat("x", 8<<10)},
			builder: image.BuildkitBuilder{MaxContextBytes: 4 << 10}, wantMsg: "build context is larger than 4096 bytes"},
		{name: "timeout", dockerfile: "FROM BASE\nRUN sleep 30\n", builder: image.BuildkitBuilder{Timeout: 2 * time.Second}, wantMsg: "build did not finish within 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.builder
			b.Client = env.bk
			_, err := env.buildWith(t, &b, tt.dockerfile, tt.files, image.BuildRequest{}, "limits")
			if !pipeline.IsPermanent(err) || !strings.Contains(pipeline.UserMessage(err, ""), tt.wantMsg) {
				t.Fatalf("Build = %v (%#v), want a user error mentioning %q", err, errors.Unwrap(err), tt.wantMsg)
			}
		})
	}
}

func TestBuildkitdUnavailable(t *testing.T) {
	t.Parallel()
	bk, err := bkclient.New(context.Background(), "unix://"+t.TempDir()+"/none.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	dest := image.Destination{Registry: "127.0.0.1:1", Repository: "octo-app", Tags: []string{"x"}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = (&image.BuildkitBuilder{Client: bk}).Build(ctx, image.BuildRequest{
		Dir: writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n"}), Push: &dest,
	})
	if err == nil || pipeline.IsPermanent(err) || pipeline.UserMessage(err, "") != "BuildKit unavailable" {
		t.Fatalf("Build = %v, want the transient BuildKit unavailable", err)
	}
}

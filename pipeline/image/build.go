package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/pkg/jsonmessage"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"

	"github.com/pandadeploy/panda/pipeline"
)

// Defaults for the zero fields of Builder and BuildkitBuilder.
const (
	DefaultMaxContextBytes int64 = 500 << 20
	DefaultBuildTimeout          = 20 * time.Minute
)

// Builder builds images with the BuildKit of a Docker engine, through the Engine
// API (POST /build?version=2), and leaves them in the engine for Pusher. Its
// methods may be called concurrently.
type Builder struct {
	Engine Engine
	// MaxContextBytes bounds the total size of the regular files sent as the build
	// context. If zero, DefaultMaxContextBytes (500 MiB).
	MaxContextBytes int64
	// Timeout bounds one build, from sending the context to the last log line.
	// If zero, DefaultBuildTimeout (20 minutes).
	Timeout time.Duration
	// NetworkMode is the network RUN steps get ("none", "default"). If empty, the
	// engine's default. An engine started with --bridge=none needs "none".
	NetworkMode string
	// Platforms are the platforms this engine can build (with binfmt emulation for
	// foreign ones). If empty, only the engine's own OS/architecture.
	Platforms []string
}

// Build sends req.Dir as the build context and builds it with the engine's
// BuildKit. The engine's BuildKit has no registry cache without buildx, so the
// image is built with BUILDKIT_INLINE_CACHE=1: its config carries the cache
// metadata, and the engine's own cache serves rebuilds on this worker.
//
// Errors are classified for the job boundary: a missing or misplaced Dockerfile, a
// context over the limit, a failing instruction (with a *StepError inside), an
// unbuildable platform and a build over the timeout are pipeline.UserError; an
// engine that cannot be reached or fails on its own (no space left) is a
// pipeline.TransientError whose message starts "Docker engine unavailable".
func (b *Builder) Build(ctx context.Context, req BuildRequest) (BuildResult, error) {
	p, err := prepare(ctx, req)
	if err != nil {
		return BuildResult{}, err
	}
	if err := b.checkPlatform(ctx, req.Platform); err != nil {
		return BuildResult{}, err
	}
	buildCtx, cancel := context.WithTimeout(ctx, timeoutOr(b.Timeout))
	defer cancel()
	run := &buildRun{prepared: p, builder: b}
	id, err := run.do(buildCtx)
	if err != nil {
		return BuildResult{}, timedOut(ctx, buildCtx, err, timeoutOr(b.Timeout))
	}
	return BuildResult{ImageID: id, Dockerfile: p.dockerfile}, nil
}

// timedOut turns a build stopped by its own deadline into the user's error.
func timedOut(ctx, buildCtx context.Context, err error, limit time.Duration) error {
	if ctx.Err() == nil && errors.Is(buildCtx.Err(), context.DeadlineExceeded) {
		return pipeline.UserError(err, "build did not finish within %s", limit)
	}
	return err
}

// checkPlatform refuses a platform the engine cannot build before sending anything.
func (b *Builder) checkPlatform(ctx context.Context, platform string) error {
	if platform == "" {
		return nil
	}
	can := b.Platforms
	if len(can) == 0 {
		v, err := b.Engine.ServerVersion(ctx)
		if err != nil {
			return pipeline.TransientError(err, "Docker engine unavailable")
		}
		can = []string{v.Os + "/" + v.Arch}
	}
	if !slices.Contains(can, platform) {
		return pipeline.UserError(nil, "this builder cannot build for %s (it builds %s)", platform, strings.Join(can, ", "))
	}
	return nil
}

func timeoutOr(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return DefaultBuildTimeout
}

func maxContextOr(n int64) int64 {
	if n > 0 {
		return n
	}
	return DefaultMaxContextBytes
}

// buildRoot returns dir as an absolute path without symlinks, the base every
// containment check compares against.
func buildRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve build directory: %w", err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("resolve build directory: %w", err)
	}
	return root, nil
}

// buildRun is the state of one engine build.
type buildRun struct {
	*prepared
	builder *Builder
	imageID string
}

// errBuildOver closes the context pipe once the engine has answered, so a writer
// blocked on a build the engine abandoned returns.
var errBuildOver = errors.New("build over")

// do streams the context to the engine and follows the build log to its end.
func (r *buildRun) do(ctx context.Context) (string, error) {
	sessionID, stop, err := r.startSession(ctx)
	if err != nil {
		return "", err
	}
	defer stop()
	pr, pw := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		err := writeContext(pw, r.root, r.dockerfile, maxContextOr(r.builder.MaxContextBytes))
		pw.CloseWithError(err)
		sent <- err
	}()
	err = r.send(ctx, pr, sessionID)
	_ = pr.CloseWithError(errBuildOver) // always nil
	// A context that could not be sent explains whatever the engine said next.
	if sendErr := <-sent; sendErr != nil && !errors.Is(sendErr, errBuildOver) && !errors.Is(sendErr, io.ErrClosedPipe) {
		if pipeline.IsPermanent(sendErr) {
			return "", sendErr
		}
		return "", fmt.Errorf("send build context: %w", sendErr)
	}
	if err != nil {
		return "", r.classify(ctx, err)
	}
	return r.result(ctx)
}

// startSession opens a BuildKit session on the engine (POST /session) when the
// build has secrets: the engine's BuildKit asks the session for each secret a RUN
// step mounts. Without secrets no session is needed, and none is opened.
func (r *buildRun) startSession(ctx context.Context) (string, func(), error) {
	if len(r.secrets) == 0 {
		return "", func() {}, nil
	}
	s, err := session.NewSession(ctx, "panda")
	if err != nil {
		return "", nil, fmt.Errorf("new build session: %w", err)
	}
	s.Allow(secretsprovider.FromMap(r.secrets))
	go func() {
		_ = s.Run(ctx, func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return r.builder.Engine.DialHijack(ctx, "/session", proto, meta)
		})
	}()
	return s.ID(), func() { _ = s.Close() }, nil
}

// send starts the build and reads its log.
func (r *buildRun) send(ctx context.Context, buildContext io.Reader, sessionID string) error {
	resp, err := r.builder.Engine.ImageBuild(ctx, buildContext, r.options(sessionID))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r.progress = startProgress(ctx, r.req.OnLog, redactor(r.secrets))
	err = readStream(resp.Body, r.message)
	r.progress.close()
	r.progress.wait()
	var report *engineReport
	if errors.As(err, &report) && r.req.OnLog != nil {
		r.req.OnLog("ERROR: " + report.Message) // the log's reader sees why it stopped
	}
	return err
}

// traceID is the id of the engine's messages that carry BuildKit status: the aux
// field is a base64 JSON string of a protobuf controlapi.StatusResponse (moby's
// builder-next/builder.go, the docker CLI decodes them the same way).
const traceID = "moby.buildkit.trace"

// message handles one message of the engine's build stream.
func (r *buildRun) message(m *jsonmessage.JSONMessage) {
	switch {
	case m.ID == traceID && m.Aux != nil:
		var raw []byte
		if err := json.Unmarshal(*m.Aux, &raw); err != nil {
			return
		}
		var resp controlapi.StatusResponse
		if err := resp.UnmarshalVT(raw); err != nil {
			return
		}
		r.progress.send(client.NewSolveStatus(&resp))
	case m.Aux != nil:
		var aux build.Result
		if decodeAux(m, &aux) == nil && aux.ID != "" {
			r.imageID = aux.ID
		}
	}
}

func (r *buildRun) options(sessionID string) build.ImageBuildOptions {
	args := make(map[string]*string, len(r.req.BuildArgs)+1)
	for k, v := range r.req.BuildArgs {
		args[k] = &v
	}
	inline := "1"
	args["BUILDKIT_INLINE_CACHE"] = &inline
	return build.ImageBuildOptions{
		Tags:        r.req.Tags,
		Dockerfile:  r.dockerfile,
		Labels:      r.req.Labels,
		BuildArgs:   args,
		Target:      r.req.Target,
		Platform:    r.req.Platform,
		NetworkMode: r.builder.NetworkMode,
		SessionID:   sessionID,
		// BuildKit: mounts, heredocs (with a frontend that has them), only the
		// stages the target needs, platform args, secrets through the session.
		Version: build.BuilderBuildKit,
		// A shared engine must not collect containers of failed steps.
		Remove:      true,
		ForceRemove: true,
	}
}

// result returns the built image's id, from the engine's aux message or, for
// engines that send none, by inspecting the first tag.
func (r *buildRun) result(ctx context.Context) (string, error) {
	if r.imageID != "" {
		return r.imageID, nil
	}
	if len(r.req.Tags) == 0 {
		return "", pipeline.TransientError(nil, "Docker engine unavailable: the build reported no image id")
	}
	inspect, err := r.builder.Engine.ImageInspect(ctx, r.req.Tags[0])
	if err != nil {
		return "", pipeline.TransientError(err, "Docker engine unavailable: cannot inspect the built image")
	}
	return inspect.ID, nil
}

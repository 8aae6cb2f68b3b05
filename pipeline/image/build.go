package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/pandadeploy/panda/pipeline"
)

// Defaults for the zero fields of Builder.
const (
	DefaultMaxContextBytes int64 = 500 << 20
	DefaultBuildTimeout          = 20 * time.Minute
)

// Builder builds images on a Docker engine. Its methods may be called concurrently.
type Builder struct {
	Engine Engine
	// MaxContextBytes bounds the total size of the regular files sent as the build
	// context. If zero, DefaultMaxContextBytes (500 MiB).
	MaxContextBytes int64
	// Timeout bounds one build, from sending the context to the last log line.
	// If zero, DefaultBuildTimeout (20 minutes).
	Timeout time.Duration
}

// BuildRequest says what to build.
//
// Build args and labels are recorded in the image, readable by anyone who can pull
// it, so callers pass only public values; Panda never passes a token through them,
// and Build refuses build-arg names that look like credentials.
type BuildRequest struct {
	// Dir is the checked-out repository, the root of the build context.
	Dir string
	// Dockerfile is the Dockerfile's path relative to Dir, with slashes. If empty, the
	// first of Dockerfile, docker/Dockerfile and deployment/Dockerfile that exists.
	Dockerfile string
	// Tags are full image references to tag the result with, e.g. "app:3f2c9e1".
	Tags []string
	// Labels are set on the image, typically org.opencontainers.image.source,
	// .revision and .created.
	Labels    map[string]string
	BuildArgs map[string]string
	// OnLog, if set, receives each line of the build log as the engine sends it,
	// from the goroutine that called Build.
	OnLog func(line string)
}

// BuildResult describes a built image.
type BuildResult struct {
	// ImageID is the engine's id of the image, "sha256:...".
	ImageID string
	// Dockerfile is the Dockerfile used, relative to the request's Dir.
	Dockerfile string
}

// Build sends req.Dir as the build context and builds it with the engine's classic
// builder, whose "Step N/M" lines let a failure be traced to its Dockerfile line.
//
// Errors are classified for the job boundary: a missing or misplaced Dockerfile, a
// context over the limit, a failing instruction (with a *StepError inside) and a
// build over the timeout are pipeline.UserError; an engine that cannot be reached
// or fails on its own (no space left) is a pipeline.TransientError whose message
// starts "Docker engine unavailable".
func (b *Builder) Build(ctx context.Context, req BuildRequest) (BuildResult, error) {
	root, err := buildRoot(req.Dir)
	if err != nil {
		return BuildResult{}, err
	}
	dockerfile, err := findDockerfile(root, req.Dockerfile)
	if err != nil {
		return BuildResult{}, err
	}
	if err := checkRequest(req); err != nil {
		return BuildResult{}, err
	}
	src, err := readDockerfile(filepath.Join(root, filepath.FromSlash(dockerfile)))
	if err != nil {
		return BuildResult{}, err
	}
	buildCtx, cancel := context.WithTimeout(ctx, b.timeout())
	defer cancel()
	run := &buildRun{builder: b, req: req, root: root, dockerfile: dockerfile, instructions: parseInstructions(src)}
	id, err := run.do(buildCtx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(buildCtx.Err(), context.DeadlineExceeded) {
			return BuildResult{}, pipeline.UserError(err, "build did not finish within %s", b.timeout())
		}
		return BuildResult{}, err
	}
	return BuildResult{ImageID: id, Dockerfile: dockerfile}, nil
}

func (b *Builder) timeout() time.Duration {
	if b.Timeout > 0 {
		return b.Timeout
	}
	return DefaultBuildTimeout
}

func (b *Builder) maxContextBytes() int64 {
	if b.MaxContextBytes > 0 {
		return b.MaxContextBytes
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

// credentialName matches build-arg names that suggest a secret.
var credentialName = regexp.MustCompile(`(?i)token|secret|passw(or)?d|credential|private_?key|access_?key|api_?key`)

// checkRequest refuses tags the engine would reject and build args that look like
// credentials: build args are stored in the image history, readable by anyone who
// can pull the image, so a secret passed that way is a secret published.
func checkRequest(req BuildRequest) error {
	for _, tag := range req.Tags {
		if _, err := reference.ParseNormalizedNamed(tag); err != nil {
			return pipeline.UserError(err, "invalid image tag %q", tag)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(req.BuildArgs)) {
		if credentialName.MatchString(name) {
			return pipeline.UserError(nil, "build arg %s looks like a credential; build args are recorded in the image, so Panda refuses to pass secrets through them", name)
		}
	}
	return nil
}

// buildRun is the state of one build: the request and what the log revealed.
type buildRun struct {
	builder      *Builder
	req          BuildRequest
	root         string
	dockerfile   string
	instructions []instruction

	step     int    // the last "Step N/M" seen, 0 before the first
	stepText string // its instruction as the builder printed it
	imageID  string
}

// errBuildOver closes the context pipe once the engine has answered, so a writer
// blocked on a build the engine abandoned returns.
var errBuildOver = errors.New("build over")

// do streams the context to the engine and follows the build log to its end.
func (r *buildRun) do(ctx context.Context) (string, error) {
	pr, pw := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		err := writeContext(pw, r.root, r.dockerfile, r.builder.maxContextBytes())
		pw.CloseWithError(err)
		sent <- err
	}()
	err := r.send(ctx, pr)
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

// send starts the build and reads its log.
func (r *buildRun) send(ctx context.Context, buildContext io.Reader) error {
	resp, err := r.builder.Engine.ImageBuild(ctx, buildContext, r.options())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lines := lineSplitter{emit: r.logLine}
	err = readStream(resp.Body, func(m *jsonmessage.JSONMessage) {
		switch {
		case m.Aux != nil:
			var aux build.Result
			if decodeAux(m, &aux) == nil && aux.ID != "" {
				r.imageID = aux.ID
			}
		case m.Stream != "":
			lines.write(m.Stream)
		default:
			if line := statusLine(m); line != "" {
				r.logLine(line)
			}
		}
	})
	lines.flush()
	var report *engineReport
	if errors.As(err, &report) {
		r.logLine(report.Message) // the log's reader sees why it stopped
	}
	return err
}

func (r *buildRun) options() build.ImageBuildOptions {
	args := make(map[string]*string, len(r.req.BuildArgs))
	for k, v := range r.req.BuildArgs {
		args[k] = &v
	}
	return build.ImageBuildOptions{
		Tags:       r.req.Tags,
		Dockerfile: r.dockerfile,
		Labels:     r.req.Labels,
		BuildArgs:  args,
		// A shared engine must not collect containers of failed steps.
		Remove:      true,
		ForceRemove: true,
		// The classic builder works over a plain API call (BuildKit needs a session)
		// and numbers its steps, which is how a failure finds its Dockerfile line.
		Version: build.BuilderV1,
	}
}

var stepLine = regexp.MustCompile(`^Step (\d+)/\d+ : (.*)$`)

// logLine records the step a line announces and passes the line on.
func (r *buildRun) logLine(line string) {
	if m := stepLine.FindStringSubmatch(line); m != nil {
		r.step, _ = strconv.Atoi(m[1])
		r.stepText = m[2]
	}
	if r.req.OnLog != nil {
		r.req.OnLog(line)
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

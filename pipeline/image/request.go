package image

import (
	"context"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/pandadeploy/panda/pipeline"
)

// BuildRequest says what to build. Both builders (Builder on the worker's Docker
// engine, BuildkitBuilder on a buildkitd) take the same request.
//
// Build args and labels are recorded in the image, readable by anyone who can pull
// it, so callers pass only public values; Panda never passes a token through them,
// and Build refuses build-arg names that look like credentials. Secrets travel as
// build secrets (SecretNames), which BuildKit mounts only into the RUN steps that ask
// for them and never records.
type BuildRequest struct {
	// Dir is the checked-out repository, the root of the build context.
	Dir string
	// Dockerfile is the Dockerfile's path relative to Dir, with slashes. If empty, the
	// first of Dockerfile, docker/Dockerfile and deployment/Dockerfile that exists.
	Dockerfile string
	// Tags are full image references to tag the result with, e.g. "app:3f2c9e1".
	// The engine builder tags the local image with them; a builder that pushes
	// (BuildkitBuilder) ignores them and uses Push.Tags.
	Tags []string
	// Labels are set on the image, typically org.opencontainers.image.source,
	// .revision and .created.
	Labels    map[string]string
	BuildArgs map[string]string
	// Target is the Dockerfile stage to build (.panda.yml target:); empty means the
	// last stage. Only the stages it depends on are built.
	Target string
	// Platform is "linux/amd64" or "linux/arm64" (.panda.yml platform:); empty
	// means the builder's own. One the builder cannot build is a pipeline.UserError.
	Platform string
	// SecretNames are the build secrets (.panda.yml build_secrets:) a Dockerfile
	// may mount with RUN --mount=type=secret,id=NAME. Their values come from
	// SecretSource; without one, Build refuses as the user's error. A source is
	// scoped to one repository's environment by whoever makes it: a repository
	// must never read another's secrets by naming them.
	SecretNames  []string
	SecretSource Secrets
	// Push, if set, is where a builder that pushes during the build
	// (BuildkitBuilder) puts the image; BuildResult.Pushed then reports it and the
	// push stage has nothing left to do. The engine builder ignores it: its image
	// stays in the engine for Pusher.
	Push *Destination
	// OnLog, if set, receives each line of the build log (BuildKit's plain
	// progress: "#5 [2/3] RUN make", "#5 CACHED", "#5 0.312 output", "#5 DONE 1.2s").
	// Calls never overlap, and none happens after Build returns.
	OnLog func(line string)
}

// BuildResult describes a built image.
type BuildResult struct {
	// ImageID is the image's id, "sha256:...": the engine's image id, or the
	// pushed image's config digest for a builder that pushed.
	ImageID string
	// Dockerfile is the Dockerfile used, relative to the request's Dir.
	Dockerfile string
	// Pushed is set when the builder pushed the image to req.Push.
	Pushed *PushResult
}

// Secrets gives the values of build secrets. The lead's wiring decides where they
// live (a secrets manager, the sealed connection store); Build asks once per
// secret per build and keeps the value only in memory for that build.
type Secrets interface {
	// BuildSecret returns the value of the named secret. An error wrapping
	// fs.ErrNotExist means the secret is not configured (a user error).
	BuildSecret(ctx context.Context, name string) ([]byte, error)
}

// platforms are the ones .panda.yml may ask for: ECS on Fargate and EC2 runs these.
var supportedPlatforms = []string{"linux/amd64", "linux/arm64"}

// prepared is a request after its checks: what both builders need to start.
type prepared struct {
	req          BuildRequest
	root         string
	dockerfile   string
	instructions []instruction
	secrets      map[string][]byte
	// progress follows the build's status stream once it started.
	progress *progress
}

// prepare checks a request and reads what the build needs from the checkout.
func prepare(ctx context.Context, req BuildRequest) (*prepared, error) {
	root, err := buildRoot(req.Dir)
	if err != nil {
		return nil, err
	}
	dockerfile, err := findDockerfile(root, req.Dockerfile)
	if err != nil {
		return nil, err
	}
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	src, err := readDockerfile(filepath.Join(root, filepath.FromSlash(dockerfile)))
	if err != nil {
		return nil, err
	}
	p := &prepared{req: req, root: root, dockerfile: dockerfile, instructions: parseInstructions(src)}
	if err := p.checkTarget(); err != nil {
		return nil, err
	}
	if p.secrets, err = readSecrets(ctx, req); err != nil {
		return nil, err
	}
	return p, nil
}

// credentialName matches build-arg names that suggest a secret.
var credentialName = regexp.MustCompile(`(?i)token|secret|passw(or)?d|credential|private_?key|access_?key|api_?key`)

// secretName is BuildKit's rule for a secret id as Panda accepts it: what
// RUN --mount=type=secret,id=... can name without quoting.
var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)

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
			return pipeline.UserError(nil, "build arg %s looks like a credential; build args are recorded in the image, so Panda refuses to pass secrets through them (use build_secrets)", name)
		}
	}
	if req.Platform != "" && !slices.Contains(supportedPlatforms, req.Platform) {
		return pipeline.UserError(nil, "platform %q is not supported: use one of %s", req.Platform, strings.Join(supportedPlatforms, ", "))
	}
	for _, name := range req.SecretNames {
		if !secretName.MatchString(name) {
			return pipeline.UserError(nil, "invalid build secret name %q", name)
		}
	}
	if len(req.SecretNames) > 0 && req.SecretSource == nil {
		// Retrying cannot help: the operator has to configure a secret source.
		return pipeline.UserError(nil, "build secrets (%s) are not available: this Panda has no build-secret source configured", strings.Join(req.SecretNames, ", "))
	}
	return nil
}

// checkTarget refuses a target no stage of the Dockerfile is named, before a
// builder turns it into an error that does not say whose it is. A Dockerfile the
// parser refused has no instructions; the build will report that instead.
func (p *prepared) checkTarget() error {
	if p.req.Target == "" || len(p.instructions) == 0 {
		return nil
	}
	var names []string
	for _, in := range p.instructions {
		if strings.EqualFold(in.StageName, p.req.Target) {
			return nil
		}
		if in.StageName != "" && !slices.Contains(names, in.StageName) {
			names = append(names, in.StageName)
		}
	}
	if len(names) == 0 {
		return pipeline.UserError(nil, "target %s: %s names no stage (FROM ... AS name)", p.req.Target, p.dockerfile)
	}
	return pipeline.UserError(nil, "target %s: %s has no such stage (it has %s)", p.req.Target, p.dockerfile, strings.Join(names, ", "))
}

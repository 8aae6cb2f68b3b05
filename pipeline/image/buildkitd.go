package image

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/tonistiigi/fsutil"
	"google.golang.org/grpc/codes"

	"github.com/pandadeploy/panda/pipeline"
)

// Buildkit is the part of the buildkit client BuildkitBuilder uses.
// *client.Client satisfies it.
type Buildkit interface {
	Solve(ctx context.Context, def *llb.Definition, opt client.SolveOpt, statusChan chan *client.SolveStatus) (*client.SolveResponse, error)
	ListWorkers(ctx context.Context, opts ...client.ListWorkersOption) ([]*client.WorkerInfo, error)
}

var _ Buildkit = (*client.Client)(nil)

// BuildkitBuilder builds on a standalone buildkitd and pushes the image straight
// to the request's Destination, with a registry build cache next to it: every
// build imports it and exports all its layers (mode=max), so any worker, or a
// fresh buildkitd, builds warm. No Docker engine is involved. Its methods may be
// called concurrently.
//
// What a build may reach is the least BuildKit allows: the checkout as its
// context, the request's secrets, and the destination's credentials for that
// registry only. No SSH agent is forwarded and no entitlement (network.host,
// security.insecure) is granted, so buildkitd refuses RUN --network=host and
// --security=insecure.
type BuildkitBuilder struct {
	Client Buildkit
	// MaxContextBytes bounds the total size of the regular files of the context
	// (after .dockerignore). If zero, DefaultMaxContextBytes (500 MiB).
	MaxContextBytes int64
	// Timeout bounds one build, push included. If zero, DefaultBuildTimeout.
	Timeout time.Duration
}

// Build builds req on buildkitd and pushes it to req.Push, which is required.
// BuildResult.Pushed names the pushed image by digest.
//
// Errors are classified as Builder's are; a buildkitd that cannot be reached is a
// pipeline.TransientError whose message starts "BuildKit unavailable", and a
// registry that refuses the credentials drops them (Destination.Refused) and
// retries.
func (b *BuildkitBuilder) Build(ctx context.Context, req BuildRequest) (BuildResult, error) {
	if req.Push == nil || len(req.Push.Tags) == 0 {
		return BuildResult{}, fmt.Errorf("buildkitd build: no destination to push to")
	}
	p, err := prepare(ctx, req)
	if err != nil {
		return BuildResult{}, err
	}
	if err := checkContextSize(p.root, p.dockerfile, maxContextOr(b.MaxContextBytes)); err != nil {
		return BuildResult{}, err
	}
	if err := b.checkPlatform(ctx, req.Platform); err != nil {
		return BuildResult{}, err
	}
	buildCtx, cancel := context.WithTimeout(ctx, timeoutOr(b.Timeout))
	defer cancel()
	res, err := b.solve(buildCtx, p)
	if err != nil {
		return BuildResult{}, timedOut(ctx, buildCtx, err, timeoutOr(b.Timeout))
	}
	return res, nil
}

// checkPlatform refuses a platform no worker of the buildkitd can build.
func (b *BuildkitBuilder) checkPlatform(ctx context.Context, platform string) error {
	if platform == "" {
		return nil
	}
	workers, err := b.Client.ListWorkers(ctx)
	if err != nil {
		return unavailable(err)
	}
	want := platforms.Only(platforms.MustParse(platform))
	var can []string
	for _, w := range workers {
		for _, p := range w.Platforms {
			if want.Match(p) {
				return nil
			}
			can = append(can, platforms.Format(p))
		}
	}
	slices.Sort(can)
	return pipeline.UserError(nil, "this builder cannot build for %s (it builds %s)", platform, strings.Join(slices.Compact(can), ", "))
}

func (b *BuildkitBuilder) solve(ctx context.Context, p *prepared) (BuildResult, error) {
	dest := *p.req.Push
	attach, err := b.attachables(ctx, p, dest)
	if err != nil {
		return BuildResult{}, err
	}
	opt, err := solveOpt(p, dest, attach)
	if err != nil {
		return BuildResult{}, err
	}
	p.progress = startProgress(ctx, p.req.OnLog, redactor(p.secrets))
	resp, err := b.Client.Solve(ctx, nil, opt, p.progress.channel())
	p.progress.wait()
	if err != nil {
		return BuildResult{}, p.classifyBuildkit(ctx, err, dest)
	}
	digest := resp.ExporterResponse[exptypes.ExporterImageDigestKey]
	if digest == "" {
		return BuildResult{}, pipeline.TransientError(nil, "buildkitd pushed %s but reported no digest", dest.ref(dest.Tags[0]))
	}
	pushed := &PushResult{
		ImageURI: dest.Registry + "/" + dest.Repository + "@" + digest,
		Digest:   digest,
		Registry: dest.Registry,
	}
	for _, tag := range dest.Tags {
		pushed.Tags = append(pushed.Tags, dest.ref(tag))
	}
	return BuildResult{
		ImageID:    resp.ExporterResponse[exptypes.ExporterImageConfigDigestKey],
		Dockerfile: p.dockerfile,
		Pushed:     pushed,
	}, nil
}

// attachables are the services the build's session offers buildkitd: registry
// credentials for the destination and the build secrets. Nothing else: no SSH
// agent, no file sync beyond the two local mounts.
func (b *BuildkitBuilder) attachables(ctx context.Context, p *prepared, dest Destination) ([]session.Attachable, error) {
	attach := []session.Attachable{secretsprovider.FromMap(p.secrets)}
	if dest.Credentials != nil {
		user, password, err := dest.Credentials(ctx)
		if err != nil {
			return nil, err
		}
		attach = append(attach, &registryAuthProvider{host: dest.Registry, username: user, password: password})
	}
	return attach, nil
}

// solveOpt is the Dockerfile frontend's request: the checkout as context, the
// Dockerfile's directory as the dockerfile mount, and an image export that pushes.
func solveOpt(p *prepared, dest Destination, attach []session.Attachable) (client.SolveOpt, error) {
	contextFS, err := fsutil.NewFS(p.root)
	if err != nil {
		return client.SolveOpt{}, fmt.Errorf("open build context: %w", err)
	}
	dockerfileFS, err := fsutil.NewFS(path.Join(p.root, path.Dir(p.dockerfile)))
	if err != nil {
		return client.SolveOpt{}, fmt.Errorf("open Dockerfile directory: %w", err)
	}
	attrs := map[string]string{"filename": path.Base(p.dockerfile)}
	if p.req.Target != "" {
		attrs["target"] = p.req.Target
	}
	if p.req.Platform != "" {
		attrs["platform"] = p.req.Platform
	}
	for k, v := range p.req.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	for k, v := range p.req.Labels {
		attrs["label:"+k] = v
	}
	names := make([]string, len(dest.Tags))
	for i, tag := range dest.Tags {
		names[i] = dest.ref(tag)
	}
	cache := dest.cacheRef()
	return client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": contextFS, "dockerfile": dockerfileFS},
		Exports: []client.ExportEntry{{
			Type:  client.ExporterImage,
			Attrs: map[string]string{"name": strings.Join(names, ","), "push": "true"},
		}},
		// The registry cache: image-manifest=true stores it as an OCI image
		// manifest, the form ECR accepts (ECR refuses the default index form);
		// mode=max keeps the layers of every stage, not only the final one.
		CacheExports: []client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{
			"ref": cache, "mode": "max", "image-manifest": "true", "oci-mediatypes": "true",
		}}},
		CacheImports: []client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{"ref": cache}}},
		Session:      attach,
		// No entitlements: network.host and security.insecure stay refused.
		AllowedEntitlements: nil,
	}, nil
}

// classifyBuildkit turns a failed solve into the error Build returns.
func (p *prepared) classifyBuildkit(ctx context.Context, err error, dest Destination) error {
	if ctx.Err() != nil {
		return fmt.Errorf("build: %w", ctx.Err())
	}
	switch grpcerrors.Code(err) {
	case codes.Unavailable:
		return unavailable(err)
	}
	msg := userText(err)
	if isEngineFault(msg) {
		return pipeline.TransientError(nil, "BuildKit unavailable: %s", msg)
	}
	if refusal := registryRefusal(msg, dest); refusal != nil {
		return refusal
	}
	for _, e := range refusedEntitlements {
		// buildkitd's entitlement check (util/entitlements) returns a plain
		// error, which reaches the client as text only.
		if strings.Contains(msg, e+" is not allowed") {
			return pipeline.UserError(nil, "build failed: %s is not allowed: Panda's builders grant no entitlements (RUN --network=host, --security=insecure)", e)
		}
	}
	line := sourceLine(err, p.dockerfile)
	if name, _ := p.progress.failedStep(); name == "" && line == 0 {
		// Nothing in the Dockerfile failed: the machine or the push did.
		return pipeline.TransientError(err, "build failed: %s", msg)
	}
	return p.stepFailure(msg, line)
}

// refusedEntitlements are the entitlements a Dockerfile may ask for and never gets.
var refusedEntitlements = []string{"network.host", "security.insecure"}

// userText is the message of a solve error without the gRPC wrapping.
func userText(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"failed to solve: ", "rpc error: code = Unknown desc = "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	return strings.TrimSpace(msg)
}

// registryRefusal classifies a push or cache export the registry refused.
func registryRefusal(msg string, dest Destination) error {
	lower := strings.ToLower(msg)
	if !strings.Contains(lower, dest.Registry) && !strings.Contains(lower, "push") {
		return nil
	}
	switch {
	case strings.Contains(lower, "401") || strings.Contains(lower, "unauthorized") || strings.Contains(lower, "authentication required"):
		if dest.Refused != nil {
			dest.Refused()
		}
		return pipeline.TransientError(nil, "registry refused the credentials for %s", dest.Registry)
	case strings.Contains(lower, "denied") || strings.Contains(lower, "403") || strings.Contains(lower, "immutable"):
		return pipeline.UserError(nil, "registry refused the push to %s/%s: %s", dest.Registry, dest.Repository, msg)
	}
	return nil
}

func unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return pipeline.TransientError(err, "BuildKit unavailable")
}

// sourceLine is the Dockerfile line BuildKit's source map puts the error at: the
// first range of a source that is the Dockerfile (the frontend names it by its
// path in the dockerfile mount), else of any source; 0 when the error has none.
func sourceLine(err error, dockerfile string) int {
	line := 0
	for _, src := range errdefs.Sources(err) {
		r := src.GetRanges()
		if len(r) == 0 {
			continue
		}
		if path.Base(src.GetInfo().GetFilename()) == path.Base(dockerfile) {
			return int(r[0].GetStart().GetLine())
		}
		if line == 0 {
			line = int(r[0].GetStart().GetLine())
		}
	}
	return line
}

// BuildkitConn says how to reach a buildkitd: a unix socket, or tcp with mutual
// TLS (PEM files of the CA that signed buildkitd's certificate, and the client's
// certificate and key).
type BuildkitConn struct {
	Addr          string
	CA, Cert, Key string
	ServerName    string
}

// NewBuildkitClient returns a client of the buildkitd at c.Addr. It connects
// lazily: a buildkitd that is down makes builds fail as "BuildKit unavailable",
// which retries, rather than stopping the worker.
func NewBuildkitClient(ctx context.Context, c BuildkitConn) (*client.Client, error) {
	var opts []client.ClientOpt
	if c.CA != "" {
		opts = append(opts, client.WithServerConfig(c.ServerName, c.CA), client.WithCredentials(c.Cert, c.Key))
	}
	cli, err := client.New(ctx, c.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("buildkit client for %s: %w", c.Addr, err)
	}
	return cli, nil
}

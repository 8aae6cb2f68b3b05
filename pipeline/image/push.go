package image

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
)

// Pusher pushes built images to the ECR registry of one AWS account and region,
// the one its ECR and STS clients are configured for. It caches the account id and
// the registry credentials, so keep one Pusher per AWS connection and region. Its
// methods may be called concurrently; a Pusher must not be copied after first use.
type Pusher struct {
	Engine Engine
	ECR    ECR
	STS    STS
	// Scans reads the pushed images' scans (Scan); usually the ECR client.
	// If nil, Scan fails.
	Scans ScanAPI
	// Now tells the time for the credentials' expiry. If nil, time.Now.
	Now func() time.Time
	// Learn, if set, is told every registry credential ECR issues (the
	// password and the base64 token it came in), so the worker's redactor
	// knows them by value wherever text leaves Panda, not only in push logs.
	Learn func(secrets ...string)

	mu      sync.Mutex
	account string
	auth    registryAuth
	ensured map[string]bool // repositories known to exist
}

// PushRequest says what to push where.
type PushRequest struct {
	// Image is the local image: its id or a tag the engine knows.
	Image string
	// Repository is the ECR repository name, e.g. from RepositoryName.
	Repository string
	// Tags are pushed, each as Repository:tag; the first is the one whose digest
	// the result reports. At least one is required.
	Tags []string
	// OnProgress, if set, receives push progress lines (layer states, not byte
	// counts) from the goroutine that called Push.
	OnProgress func(line string)
}

// PushResult describes a pushed image.
type PushResult struct {
	// ImageURI names the image by digest: host/repository@sha256:....
	ImageURI string
	// Digest is the manifest digest the registry stored, "sha256:...".
	Digest string
	// Registry is the registry host, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com.
	Registry string
	// Tags are the references pushed, host/repository:tag.
	Tags []string
}

// Push tags the image host/repository:tag for each tag and pushes it through the
// engine, creating the repository first when it is missing. The registry
// credentials travel in the request only; they are never logged, written to disk or
// put in an error. A push the registry refuses is an error saying so; a refusal of
// access (denied, immutable tag) is permanent, anything else transient.
func (p *Pusher) Push(ctx context.Context, req PushRequest) (PushResult, error) {
	if err := checkPush(req); err != nil {
		return PushResult{}, err
	}
	if _, err := p.Engine.ImageInspect(ctx, req.Image); err != nil {
		return PushResult{}, fmt.Errorf("inspect image %s: %w", req.Image, err)
	}
	account, err := p.accountID(ctx)
	if err != nil {
		return PushResult{}, err
	}
	if err := p.ensureRepository(ctx, account, req.Repository); err != nil {
		return PushResult{}, err
	}
	auth, err := p.credentials(ctx)
	if err != nil {
		return PushResult{}, err
	}
	res := PushResult{Registry: auth.host}
	for _, tag := range req.Tags {
		ref := auth.host + "/" + req.Repository + ":" + tag
		digest, err := p.pushTag(ctx, req, ref, auth)
		if err != nil {
			return PushResult{}, err
		}
		if res.Digest == "" {
			res.Digest = digest
		}
		res.Tags = append(res.Tags, ref)
	}
	res.ImageURI = auth.host + "/" + req.Repository + "@" + res.Digest
	return res, nil
}

func checkPush(req PushRequest) error {
	if err := names.ECRRepository(req.Repository); err != nil {
		return pipeline.UserError(nil, "invalid ECR repository name: %v", err)
	}
	if len(req.Tags) == 0 {
		return fmt.Errorf("push %s: no tags", req.Image)
	}
	for _, tag := range req.Tags {
		if err := names.ImageTag(tag); err != nil {
			return pipeline.UserError(nil, "invalid image tag: %v", err)
		}
	}
	return nil
}

// pushTag tags the image as ref and pushes it, returning the digest the engine
// reports.
func (p *Pusher) pushTag(ctx context.Context, req PushRequest, ref string, auth registryAuth) (string, error) {
	if err := p.Engine.ImageTag(ctx, req.Image, ref); err != nil {
		return "", pipeline.TransientError(err, "Docker engine unavailable: cannot tag the image")
	}
	encoded, err := registry.EncodeAuthConfig(registry.AuthConfig{
		Username:      auth.username,
		Password:      auth.password,
		ServerAddress: auth.host,
	})
	if err != nil {
		return "", fmt.Errorf("encode registry auth: %w", err)
	}
	body, err := p.Engine.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: encoded})
	if err != nil {
		return "", pipeline.TransientError(err, "Docker engine unavailable: cannot start the push")
	}
	defer body.Close()
	return p.followPush(ref, body, req.OnProgress, auth)
}

// followPush reads a push stream to its end and returns the pushed digest.
func (p *Pusher) followPush(ref string, body io.Reader, onProgress func(string), auth registryAuth) (string, error) {
	var digest string
	err := readStream(body, func(m *jsonmessage.JSONMessage) {
		if m.Aux != nil {
			var aux struct{ Digest string }
			if decodeAux(m, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
			return
		}
		if line := statusLine(m); line != "" && onProgress != nil {
			onProgress(auth.redact(line))
		}
	})
	if err != nil {
		return "", p.refused(ref, err, auth)
	}
	if digest == "" {
		return "", pipeline.TransientError(nil, "push of %s reported no digest", ref)
	}
	return digest, nil
}

// refused classifies a push that failed. An expired or rejected credential drops
// the cached one, so the retry asks ECR for a fresh token.
func (p *Pusher) refused(ref string, err error, auth registryAuth) error {
	msg := auth.redact(err.Error())
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "unauthorized") || strings.Contains(lower, "expired") ||
		strings.Contains(lower, "authentication required"):
		p.forgetCredentials()
		return pipeline.TransientError(nil, "registry refused the credentials for %s: %s", ref, msg)
	case strings.Contains(lower, "denied") || strings.Contains(lower, "forbidden") || strings.Contains(lower, "immutable"):
		return pipeline.UserError(nil, "registry refused the push of %s: %s", ref, msg)
	default:
		return pipeline.TransientError(nil, "push of %s failed: %s", ref, msg)
	}
}

func (p *Pusher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Destination prepares a push that a builder makes itself (BuildkitBuilder): it
// creates the repository and its build-cache repository when missing, as Push
// does, and returns the registry
// host with a Credentials function that hands out the cached ECR credentials. The
// credentials go to the builder through its session only, never to disk.
func (p *Pusher) Destination(ctx context.Context, repository string, tags []string) (Destination, error) {
	if err := checkPush(PushRequest{Image: "build", Repository: repository, Tags: tags}); err != nil {
		return Destination{}, err
	}
	account, err := p.accountID(ctx)
	if err != nil {
		return Destination{}, err
	}
	cache := CacheRepositoryName(repository)
	for _, repo := range []string{repository, cache} {
		if err := p.ensureRepository(ctx, account, repo); err != nil {
			return Destination{}, err
		}
	}
	auth, err := p.credentials(ctx)
	if err != nil {
		return Destination{}, err
	}
	return Destination{
		Registry:        auth.host,
		Repository:      repository,
		CacheRepository: cache,
		Tags:            tags,
		Credentials: func(ctx context.Context) (string, string, error) {
			auth, err := p.credentials(ctx)
			return auth.username, auth.password, err
		},
		Refused: p.forgetCredentials,
	}, nil
}

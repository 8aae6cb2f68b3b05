package image

import (
	"context"
	"log/slog"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"google.golang.org/grpc"
)

// DefaultCacheTag is the tag of the registry build cache in the image's repository.
const DefaultCacheTag = "buildcache"

// Destination is a registry repository a builder pushes to during the build, with
// the credentials for it. Pusher.Destination makes one for ECR.
type Destination struct {
	// Registry is the registry host, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com.
	Registry string
	// Repository is the repository name in that registry.
	Repository string
	// Tags are pushed, each as Registry/Repository:tag; the first is the one the
	// result names. At least one is required.
	Tags []string
	// CacheRepository is the repository of the registry build cache. If empty,
	// Repository. Pusher.Destination puts it in a repository of its own
	// (CacheRepositoryName): a cache tag pushed to the image's repository would
	// start an execution in EventBridge mode, whose rule matches every push there.
	CacheRepository string
	// CacheTag is the cache's tag. If empty, DefaultCacheTag.
	CacheTag string
	// Credentials returns the username and password for Registry; nil means the
	// registry needs none. It is called once per build.
	Credentials func(ctx context.Context) (username, password string, err error)
	// Refused, if set, is told when the registry refused the credentials, so the
	// next build asks for fresh ones.
	Refused func()
}

func (d Destination) ref(tag string) string { return d.Registry + "/" + d.Repository + ":" + tag }

func (d Destination) cacheRef() string {
	repo, tag := d.CacheRepository, d.CacheTag
	if repo == "" {
		repo = d.Repository
	}
	if tag == "" {
		tag = DefaultCacheTag
	}
	return d.Registry + "/" + repo + ":" + tag
}

// CacheRepositoryName is the repository Pusher.Destination keeps repository's
// build cache in: repository + "-buildcache", or repository itself when that
// would be longer than ECR allows (256).
func CacheRepositoryName(repository string) string {
	if name := repository + "-" + DefaultCacheTag; len(name) <= 256 {
		return name
	}
	return repository
}

// registryAuthProvider answers buildkitd's credential requests over the build's
// session with the destination's credentials, and only for its host: a FROM of
// another registry must never be sent the ECR token. Nothing is written to disk,
// unlike the docker CLI's config-file provider.
type registryAuthProvider struct {
	auth.UnimplementedAuthServer
	host, username, password string
}

var _ session.Attachable = (*registryAuthProvider)(nil)

// Register makes the provider a service of the session.
func (a *registryAuthProvider) Register(server *grpc.Server) { auth.RegisterAuthServer(server, a) }

// Credentials returns the credentials for the destination's host and none for any
// other. FetchToken and the token-authority calls stay unimplemented, which makes
// buildkitd log in with these credentials itself (session/auth.CredentialsFunc).
func (a *registryAuthProvider) Credentials(_ context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	if req.GetHost() != a.host {
		return &auth.CredentialsResponse{}, nil
	}
	return &auth.CredentialsResponse{Username: a.username, Secret: a.password}, nil
}

// LogValue keeps the password out of logs should the provider ever reach one.
func (a *registryAuthProvider) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", a.host))
}

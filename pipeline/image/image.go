// Package image builds a deployment's image with BuildKit and pushes it to Amazon
// ECR: the build and push stages of the pipeline.
//
// Two builders take the same BuildRequest. Builder uses the BuildKit of the
// worker's Docker engine through its API (DOCKER_HOST); the image stays in the
// engine and Pusher pushes it, the registry credentials travelling in the push
// request itself. BuildkitBuilder uses a standalone buildkitd shared by all
// workers and pushes straight to ECR during the build, with a registry build cache
// next to the image; the credentials travel through the build's session. Neither
// ever writes a docker config or credentials file on the worker.
package image

import (
	"context"
	"io"
	"net"

	"github.com/docker/docker/api/types"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Engine is the part of the Docker engine API the build and push stages use.
// *client.Client satisfies it.
type Engine interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageTag(ctx context.Context, source, target string) error
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ServerVersion(ctx context.Context) (types.Version, error)
	DialHijack(ctx context.Context, url, proto string, meta map[string][]string) (net.Conn, error)
}

var _ Engine = (*client.Client)(nil)

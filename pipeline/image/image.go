// Package image builds a deployment's Docker image on a Docker engine and pushes it
// to Amazon ECR: the build and push stages of the pipeline.
//
// Both talk to the engine only through its API (DOCKER_HOST): the build context is
// streamed as a tar, and registry credentials travel in the push request itself, so
// nothing is ever written to a docker config or credentials file on the worker.
package image

import (
	"context"
	"io"

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
}

var _ Engine = (*client.Client)(nil)

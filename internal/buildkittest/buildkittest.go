// Package buildkittest gives tests the real buildkitd that scripts/test.sh starts
// (PANDA_TEST_BUILDKIT_ADDR), and a base image in a test registry it can build
// FROM, since no image can be pulled here.
//
// A missing buildkitd follows the shared rule of package testenv: a failure under
// CI, a skip elsewhere.
package buildkittest

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	dockerimage "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	dockerclient "github.com/docker/docker/client"
	"github.com/moby/buildkit/client"

	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/testenv"
)

// AddrVar names the variable holding buildkitd's address, set by scripts/test.sh.
const AddrVar = "PANDA_TEST_BUILDKIT_ADDR"

// defaultAddr is where scripts/lib.sh's ensure_buildkitd starts it.
const defaultAddr = "unix:///tmp/panda-services/buildkitd/buildkitd.sock"

// Client returns a client of the test buildkitd after checking that it answers,
// closed when the test ends.
func Client(t testing.TB) *client.Client {
	t.Helper()
	addr := os.Getenv(AddrVar)
	if addr == "" {
		addr = defaultAddr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(ctx, addr)
	if err != nil {
		testenv.RequireService(t, "buildkitd", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.ListWorkers(ctx); err != nil {
		testenv.RequireService(t, "buildkitd", fmt.Errorf("list workers at %s: %w", addr, err))
	}
	return c
}

// PushBusybox pushes dockertest's busybox base image to host/repo:busybox through
// the Docker engine and returns that reference, for Dockerfiles that buildkitd
// builds: it resolves FROM through the registry, never the engine.
func PushBusybox(t testing.TB, cli *dockerclient.Client, host, repo, user, password string) string {
	t.Helper()
	ref := host + "/" + repo + ":busybox"
	base := dockertest.BusyboxBase(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cli.ImageTag(ctx, base, ref); err != nil {
		t.Fatalf("tag %s: %v", ref, err)
	}
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: user, Password: password, ServerAddress: host})
	if err != nil {
		t.Fatal(err)
	}
	body, err := cli.ImagePush(ctx, ref, dockerimage.PushOptions{RegistryAuth: auth})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	defer body.Close()
	if _, err := io.Copy(io.Discard, body); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), ref, dockerimage.RemoveOptions{})
	})
	return ref
}

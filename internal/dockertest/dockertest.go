// Package dockertest gives tests the real Docker engine and a small base image that
// can RUN commands, which matters here because no image can be pulled.
//
// A missing engine follows the shared rule of package testenv: a failure under CI,
// a skip elsewhere.
package dockertest

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/pandadeploy/panda/internal/testenv"
)

// BusyboxRef is the local reference of the base image made by BusyboxBase. Bump
// its tag when the image's content changes, so engines holding the old one rebuild.
const BusyboxRef = "panda-test/busybox:2"

// busyboxPath is where Debian's busybox-static package installs its static binary.
const busyboxPath = "/bin/busybox"

// busyboxApplets are the commands linked to busybox in the base image: enough for
// Dockerfiles under test to RUN shell commands and inspect files.
var busyboxApplets = []string{
	"sh", "true", "false", "echo", "cat", "ls", "test", "mkdir", "rm", "touch", "env",
	"sleep", "grep", "wc", "cp", "mv", "chmod", "id", "pwd",
}

// Client returns a client for the engine named by the environment (DOCKER_HOST,
// DOCKER_TLS_VERIFY, ... or the default socket), with API version negotiation,
// after checking that the engine answers a ping. The client is closed when the
// test ends. Without an engine the test fails under CI and is skipped elsewhere.
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		testenv.RequireService(t, "Docker engine", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		testenv.RequireService(t, "Docker engine", fmt.Errorf("ping %s: %w", cli.DaemonHost(), err))
	}
	return cli
}

// BusyboxBase returns BusyboxRef, importing it into the engine first when it is
// not there yet. The image holds only /bin/busybox (copied from the host's
// busybox-static) and symlinks to it such as /bin/sh, so a Dockerfile may start
// FROM it and RUN commands.
//
// It is safe for several test binaries to call at once: each may import its own
// copy, and whichever tags BusyboxRef last wins, which is harmless because the
// copies have the same content. Without busybox-static the test fails under CI
// and is skipped elsewhere.
func BusyboxBase(t testing.TB, cli *client.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, BusyboxRef); err == nil {
		return BusyboxRef
	} else if !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect %s: %v", BusyboxRef, err)
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		testenv.RequireService(t, "busybox-static", err)
	}
	if err := importBusybox(ctx, cli); err != nil {
		t.Fatalf("import %s: %v", BusyboxRef, err)
	}
	return BusyboxRef
}

// importBusybox streams the root filesystem to the engine's image import.
func importBusybox(ctx context.Context, cli *client.Client) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBusyboxRootfs(pw)) }()
	defer pr.Close()
	body, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, BusyboxRef, image.ImportOptions{})
	if err != nil {
		return err
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read import progress: %w", err)
		}
		if m.Error != nil {
			return m.Error
		}
	}
}

// writeBusyboxRootfs writes the base image's filesystem as a tar. Times and owners
// are fixed so that every import yields the same layer.
func writeBusyboxRootfs(w io.Writer) error {
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return err
	}
	epoch := time.Unix(0, 0)
	tw := tar.NewWriter(w)
	for _, dir := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755, ModTime: epoch},
		{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch},
	} {
		if err := tw.WriteHeader(dir); err != nil {
			return err
		}
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: epoch}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	for _, applet := range busyboxApplets {
		h := &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: epoch}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	return tw.Close()
}

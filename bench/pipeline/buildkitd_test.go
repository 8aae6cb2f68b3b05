package pipelinebench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"

	"github.com/pandadeploy/panda/internal/testenv"
)

// Where run.sh's go_tool (scripts/lib.sh) puts buildkitd and buildctl; run.sh
// passes their paths in these variables.
const (
	buildkitdVar = "PANDA_BENCH_BUILDKITD"
	buildctlVar  = "PANDA_BENCH_BUILDCTL"
)

// daemon is a buildkitd of the benchmark's own, on its own socket and state
// directory: cold runs prune it and "second worker" runs start an empty one,
// neither of which may touch the buildkitd other tests on this machine share.
type daemon struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	cli  *bkclient.Client
	done chan error
}

// startDaemon starts a buildkitd with an empty state directory and waits until
// it answers. Its flags are scripts/lib.sh ensure_buildkitd's: the native
// snapshotter (no overlay here) and host networking (no CNI plugins).
func startDaemon(ctx context.Context, tb testing.TB) *daemon {
	tb.Helper()
	bin := os.Getenv(buildkitdVar)
	if bin == "" {
		testenv.RequireService(tb, "buildkitd", fmt.Errorf("%s is not set (bench/pipeline/run.sh sets it)", buildkitdVar))
	}
	// A short directory: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "pbk")
	if err != nil {
		tb.Fatal(err)
	}
	d := &daemon{addr: "unix://" + filepath.Join(dir, "bk.sock"), dir: dir, done: make(chan error, 1)}
	log, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	d.cmd = exec.Command(bin, "--addr", d.addr, "--root", filepath.Join(dir, "state"),
		"--oci-worker-snapshotter=native", "--oci-worker-net=host", "--containerd-worker=false")
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		testenv.RequireService(tb, "buildkitd", err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	if err := d.wait(ctx); err != nil {
		d.stop()
		out, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
		tb.Fatalf("buildkitd on %s: %v\n%s", d.addr, err, out)
	}
	return d
}

// wait polls until buildkitd lists its workers, or it exits, or 60 s pass.
func (d *daemon) wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		select {
		case err := <-d.done:
			d.done <- err
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		cli, err := bkclient.New(ctx, d.addr)
		if err != nil {
			continue
		}
		if _, err := cli.ListWorkers(ctx); err == nil {
			d.cli = cli
			return nil
		}
		_ = cli.Close()
	}
}

// prune drops every record of buildkitd's cache, so the next build starts cold.
func (d *daemon) prune(ctx context.Context) error {
	if err := d.cli.Prune(ctx, nil, bkclient.PruneAll); err != nil {
		return fmt.Errorf("prune buildkitd at %s: %w", d.addr, err)
	}
	return nil
}

// stop ends buildkitd (SIGTERM, then SIGKILL after 20 s) and removes its state.
func (d *daemon) stop() {
	if d.cli != nil {
		_ = d.cli.Close()
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	if err := os.RemoveAll(d.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "remove %s: %v\n", d.dir, err)
	}
}

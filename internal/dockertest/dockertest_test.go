package dockertest_test

import (
	"context"
	"testing"

	"github.com/pandadeploy/panda/internal/dockertest"
)

func TestBusyboxBaseIsIdempotent(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	first := dockertest.BusyboxBase(t, cli)
	second := dockertest.BusyboxBase(t, cli)
	if first != second {
		t.Fatalf("BusyboxBase returned %q then %q", first, second)
	}
	inspect, err := cli.ImageInspect(context.Background(), first)
	if err != nil {
		t.Fatalf("inspect %s: %v", first, err)
	}
	if inspect.Size < 1<<20 {
		t.Errorf("image %s is %d bytes; want it to hold the busybox binary", first, inspect.Size)
	}
}

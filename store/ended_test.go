package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/testenv"
)

// TestWhileRunningEndsWithTheDeployment: the work of one worker stops when
// another worker (its own Redis connection) writes the final status, within
// moments, not at the next poll.
func TestWhileRunningEndsWithTheDeployment(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	open := func() *Store {
		rdb, err := Open(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return New(rdb)
	}
	worker, other := open(), open()
	ctx := context.Background()
	dep, _, err := worker.Create(ctx, "c:"+t.Name(), &Deployment{ID: NewID(), Status: StatusRunning, Repo: "o/r", SHA: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := worker.WhileRunning(ctx, dep.ID)
	defer stop()

	// A change that is not final leaves the work running.
	if _, err := other.Update(ctx, dep.ID, func(d *Deployment) error { d.ImageURI = "x"; return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wctx.Done():
		t.Fatalf("cancelled by a change that is not final: %v", context.Cause(wctx))
	case <-time.After(300 * time.Millisecond):
	}

	start := time.Now()
	if _, err := other.Update(ctx, dep.ID, func(d *Deployment) error { d.Status = StatusCanceled; return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wctx.Done():
	case <-time.After(endedPoll / 2):
		t.Fatal("the work was not cancelled by the final status (before the fallback poll)")
	}
	if !errors.Is(context.Cause(wctx), ErrFinal) {
		t.Errorf("cause %v, want ErrFinal", context.Cause(wctx))
	}
	t.Logf("cancelled %s after the final status was written", time.Since(start))

	// Watching a deployment that is final already stops at once.
	again, stop2 := worker.WhileRunning(ctx, dep.ID)
	defer stop2()
	select {
	case <-again.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("watching a final deployment did not stop at once")
	}
}

// TestWhileRunningStop: stop releases the watcher without a final status.
func TestWhileRunningStop(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	dep, _, err := s.Create(ctx, "c:"+t.Name(), &Deployment{ID: NewID(), Status: StatusRunning, Repo: "o/r", SHA: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := s.WhileRunning(ctx, dep.ID)
	stop()
	if errors.Is(context.Cause(wctx), ErrFinal) {
		t.Errorf("cause %v after stop, want context.Canceled", context.Cause(wctx))
	}
	if n, err := s.rdb.PubSubNumSub(ctx, endedChannel(dep.ID)).Result(); err != nil || n[endedChannel(dep.ID)] != 0 {
		t.Errorf("subscribers after stop: %v %v", n, err)
	}
}

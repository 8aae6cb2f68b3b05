package store

import (
	"context"
	"fmt"
	"time"
)

// endedChannel is the Pub/Sub channel on which Update announces that a
// deployment reached its final status. It carries the deployment's hash tag
// like its other keys (Pub/Sub is broadcast to every node of a Cluster, so
// the tag is only for reading the keys together).
func endedChannel(id string) string { return "panda:{" + id + "}:ended" }

// endedPoll is how often WhileRunning reads the record besides listening: a
// message published while the subscription was reconnecting is lost (Redis
// Pub/Sub is fire and forget), so the record, not the message, is the truth.
const endedPoll = 5 * time.Second

// announceEnded tells every WhileRunning watching id that its record is
// final. A lost message delays the watcher by endedPoll at most.
func (s *Store) announceEnded(ctx context.Context, id string) {
	_ = s.rdb.Publish(context.WithoutCancel(ctx), endedChannel(id), "ended").Err()
}

// WhileRunning returns a context derived from ctx that is cancelled as soon
// as deployment id has a final status, written by whichever process (a
// Cancel pressed on GitHub and handled by another worker, a timeout, a
// superseding deployment): context.Cause then wraps ErrFinal. Work done under
// it (a git clone, a Docker build or push) stops within moments of the end
// instead of running to completion for nothing.
//
// It listens on the deployment's Pub/Sub channel and reads the record once the
// subscription stands (so an end written just before is not missed) and every
// few seconds after. Call stop when the work is done: it releases the
// subscription and waits for the watcher to return.
func (s *Store) WhileRunning(ctx context.Context, id string) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.watchEnded(ctx, id, func() { cancel(fmt.Errorf("deployment %s: %w", id, ErrFinal)) })
	}()
	return ctx, func() {
		cancel(context.Canceled)
		<-done
	}
}

// watchEnded calls ended once id is final, or returns when ctx is done.
func (s *Store) watchEnded(ctx context.Context, id string, ended func()) {
	sub := s.rdb.Subscribe(ctx, endedChannel(id))
	defer sub.Close()
	var msgs <-chan struct{}
	if _, err := sub.Receive(ctx); err == nil {
		msgs = notify(ctx, sub.Channel())
	} // without a subscription, the polls alone find the end
	tick := time.NewTicker(endedPoll)
	defer tick.Stop()
	for {
		if d, err := s.Get(ctx, id); err == nil && d.Status.Final() {
			ended()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-msgs:
		case <-tick.C:
		}
	}
}

// notify turns a channel of messages into a channel of wake-ups that is never
// closed (a closed channel would spin the watcher's loop).
func notify[T any](ctx context.Context, in <-chan T) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

package stacktest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/store"
)

// Deployments are the deployments of sha in Repo, newest first, as Redis
// holds them.
func (w *World) Deployments(sha string) []*store.Deployment {
	w.t.Helper()
	list, err := w.Store().List(context.Background(), store.Filter{Repo: Repo, SHA: sha})
	if err != nil {
		w.t.Fatal(err)
	}
	return list
}

// WaitFinal waits for the one deployment of sha to be done: its final status
// recorded and its stream's final event written, as a user watching either
// would see it. More than one deployment of sha fails the test; so does
// waiting longer than within, with the record and its last events.
func (w *World) WaitFinal(sha string, within time.Duration) *store.Deployment {
	w.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		list := w.Deployments(sha)
		if len(list) > 1 {
			w.t.Fatalf("%d deployments for one push", len(list))
		}
		// The final status is written just before the stream's final event.
		// (A task that read the deployment just before it ended may still
		// append a line after the final event; SSE clients stop at it.) And
		// GitHub has been told the end (the outbox drained), as a person
		// looking at the pull request would see.
		if len(list) == 1 && list[0].Status.Final() && w.HasFinalEvent(list[0].ID) && len(list[0].Outbox) == 0 {
			return list[0]
		}
	}
	var state strings.Builder
	for _, d := range w.Deployments(sha) {
		fmt.Fprintf(&state, "\n  %s %s (%s %s) image=%q execution=%q", d.ID, d.Status, d.ErrorStage, d.Error, d.ImageURI, d.ExecutionARN)
		evs := w.Events(d.ID)
		for _, ev := range evs[max(0, len(evs)-8):] {
			fmt.Fprintf(&state, "\n    %s %s %s", ev.Type, ev.Stage, ev.Message)
		}
	}
	w.t.Fatalf("deployment of %s did not finish within %v:%s", sha, within, state.String())
	return nil
}

// Events is the whole event stream of deployment id.
func (w *World) Events(id string) []store.StreamEvent {
	w.t.Helper()
	evs, err := w.Store().Events(context.Background(), id, "", 100000, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}

// HasFinalEvent reports whether the deployment's stream holds its done or
// error event.
func (w *World) HasFinalEvent(id string) bool {
	for _, ev := range w.Events(id) {
		if ev.Final() {
			return true
		}
	}
	return false
}

// Kinds reads every event of deployment id back into its kind: an event
// that package events cannot place fails the test, as every event Panda
// writes must have a kind.
func (w *World) Kinds(id string) []events.Kind {
	w.t.Helper()
	var out []events.Kind
	for _, ev := range w.Events(id) {
		k, err := events.Parse(ev.Event)
		if err != nil {
			w.t.Errorf("event %s %q: %v", ev.ID, ev.Message, err)
			continue
		}
		out = append(out, k)
	}
	return out
}

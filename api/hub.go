package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pandadeploy/panda/store"
)

// SSE fan-out. Each app instance runs at most one reader per deployment being
// watched (a hub): it waits on the deployment's Redis Stream with a blocking
// XREAD and publishes what it reads as a linked list of immutable nodes. Each
// client walks the list at its own pace in its own goroutine. Publishing is a
// close of a channel and never waits for a client, so a slow or stuck client
// only delays itself, and the worker (which only appends to Redis) never
// waits for anyone.
//
// One reader per deployment rather than one per client: a blocking XREAD
// holds a pooled Redis connection (with 64 KiB of buffers in go-redis) for as
// long as it waits, so per-client readers would need a pool as large as the
// audience and could not meet the memory budget of an idle client.

// node is one batch of events, framed once for every client. frames and
// next are written once, before ready is closed, and only read after it is
// closed.
type node struct {
	frames []frame
	next   *node
	ready  chan struct{}
}

func newNode() *node { return &node{ready: make(chan struct{})} }

type hub struct {
	id     string
	refs   int // guarded by hubs.mu
	cancel context.CancelFunc

	mu   sync.Mutex
	tail *node // the node the next batch is written into
	// parked are the hijacked clients waiting for tail to be filled (park.go).
	parked  map[*parked]struct{}
	stopped bool // the app is stopping: no client parks any more
}

// publish hands a batch to every client: it fills the tail node and closes
// its channel. It never blocks on a client.
func (h *hub) publish(evs []store.StreamEvent) {
	frames := make([]frame, 0, len(evs))
	for _, ev := range evs {
		if f, ok := encodeFrame(ev); ok {
			frames = append(frames, f)
		}
	}
	h.mu.Lock()
	n := h.tail
	n.frames, n.next = frames, newNode()
	h.tail = n.next
	close(n.ready)
	woken := h.parked
	h.parked = nil
	h.mu.Unlock()
	for p := range woken {
		go p.drain(false) // each in its own goroutine: a slow client delays only itself
	}
}

func (h *hub) current() *node {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tail
}

// hubs holds the hubs of one app instance.
type hubs struct {
	store *store.Store
	log   *slog.Logger
	// block bounds one XREAD, and so how long a hub's reader outlives its last client.
	block time.Duration
	// heartbeat is the interval of parked clients' heartbeats; stop ends them.
	heartbeat time.Duration
	stop      <-chan struct{}

	mu   sync.Mutex
	byID map[string]*hub
}

func newHubs(st *store.Store, log *slog.Logger, heartbeat time.Duration, stop <-chan struct{}) *hubs {
	return &hubs{store: st, log: log, block: 5 * time.Second, heartbeat: heartbeat, stop: stop, byID: map[string]*hub{}}
}

// join subscribes to the deployment's live events and returns the hub and the
// node from which the caller receives every event the hub reads from now on.
// A new hub starts reading after cursor, the id of the last event the caller
// has read from Redis; joining an existing hub, the caller must read Redis
// again after joining to cover what the hub read before (see sseClient.run).
// Every join must be followed by one leave.
func (hs *hubs) join(id, cursor string) (*hub, *node) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h := hs.byID[id]
	if h == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h = &hub{id: id, cancel: cancel, tail: newNode()}
		hs.byID[id] = h
		go hs.run(ctx, h, cursor)
		go hs.beat(ctx, h)
	}
	h.refs++
	return h, h.current()
}

// leave drops a subscription; the last one stops the hub's reader.
func (hs *hubs) leave(h *hub) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h.refs--
	if h.refs == 0 {
		delete(hs.byID, h.id)
		h.cancel()
	}
}

// run reads the stream after cursor until ctx ends or a final event is read.
func (hs *hubs) run(ctx context.Context, h *hub, cursor string) {
	if cursor == "" {
		cursor = "0"
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		evs, err := hs.store.Events(ctx, h.id, cursor, 512, hs.block)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			hs.log.Warn("read deployment events", "deployment_id", h.id, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if len(evs) == 0 {
			continue
		}
		cursor = evs[len(evs)-1].ID
		h.publish(evs)
		for _, ev := range evs {
			if ev.Final() {
				return // nothing follows a final event; later joiners find it in Redis
			}
		}
	}
}

package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pandadeploy/panda/store"
)

// historyPage is how many events one history read asks Redis for.
const historyPage = 500

// streamIDPattern is a Redis Stream entry id. Last-Event-ID is checked
// against it before use: it is echoed into Redis commands, and nothing else
// (no newline, no header injection) may pass.
var streamIDPattern = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// streamID is a parsed stream entry id, ordered by (ms, seq).
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, bool) {
	if !streamIDPattern.MatchString(s) {
		return streamID{}, false
	}
	a, b, _ := strings.Cut(s, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return streamID{ms, seq}, err1 == nil && err2 == nil
}

func (a streamID) after(b streamID) bool { return a.ms > b.ms || (a.ms == b.ms && a.seq > b.seq) }

// events serves GET /api/v1/deploy/{id}/events: the deployment's history after
// Last-Event-ID (all of it without one), then its live events, until a done or
// error event, the client leaves, or a write to it times out.
func (s *server) events(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	id := d.ID // only the id: the record is not kept for the stream's lifetime
	rc := http.NewResponseController(w)
	c := &sseClient{s: s, id: id, sink: &responseSink{w: w, rc: rc, timeout: s.SSEWriteTimeout}}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		id, ok := parseStreamID(last)
		if !ok {
			return badField("Last-Event-ID", "not an event id of this stream")
		}
		c.last, c.lastID = last, id
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	if conn, ok := s.hijack(w, r); ok {
		s.Metrics.SSEClients.Inc() // decremented when the parked stream ends
		if conn != nil {
			c.runHijacked(r.Context(), conn)
		} else {
			s.Metrics.SSEClients.Dec()
		}
		return nil
	}
	w.WriteHeader(http.StatusOK)
	// The server's WriteTimeout would cut a long stream: each write gets its own
	// deadline instead (see flush).
	_ = rc.SetWriteDeadline(time.Time{})

	s.Metrics.SSEClients.Inc()
	defer s.Metrics.SSEClients.Dec()
	if err := c.run(r.Context()); err != nil && r.Context().Err() == nil {
		s.log.Info("event stream ended", "deployment_id", id, "err", err)
	}
	return nil
}

// sseClient is one event-stream response. Only its handler goroutine uses it.
type sseClient struct {
	s      *server
	id     string
	sink   sink
	last   string // id of the last event sent ("" before the first)
	lastID streamID
}

// sink is where a stream's frames go: the ResponseWriter, or a hijacked
// connection (park.go). Flush sends what is buffered under a write deadline.
type sink interface {
	Write(p []byte) (int, error)
	Flush() error
}

// responseSink writes through net/http.
type responseSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (r *responseSink) Write(p []byte) (int, error) { return r.w.Write(p) }

// Flush pushes buffered events to the client under a write deadline, so a
// client that stopped reading is dropped rather than kept forever.
func (r *responseSink) Flush() error {
	_ = r.rc.SetWriteDeadline(time.Now().Add(r.timeout))
	return r.rc.Flush()
}

var errStreamEnded = errors.New("stream ended")

// run sends the history, then joins the hub and sends live events. The
// history is read again after joining: the hub may have read events before
// this client joined that the first read did not see. Events the client
// already has are skipped by id, so there is no gap and no duplicate.
func (c *sseClient) run(ctx context.Context) error {
	// Flushed at once, so the client sees the headers even before any event.
	if _, err := fmt.Fprintf(c.sink, "retry: 2000\n\n"); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.history(ctx); err != nil {
		return ignoreEnd(err)
	}
	h, n := c.s.hubs.join(c.id, c.last)
	defer c.s.hubs.leave(h)
	if err := c.history(ctx); err != nil {
		return ignoreEnd(err)
	}
	beat := time.NewTicker(c.s.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.s.Stop: // a nil channel never fires
			return nil
		case <-beat.C:
			if err := c.heartbeat(); err != nil {
				return err
			}
		case <-n.ready:
			if err := c.sendFrames(n.frames); err != nil {
				return ignoreEnd(err)
			}
			n = n.next
		}
	}
}

func ignoreEnd(err error) error {
	if errors.Is(err, errStreamEnded) {
		return nil
	}
	return err
}

// history sends the stored events after the last one sent, page by page.
func (c *sseClient) history(ctx context.Context) error {
	for {
		evs, err := c.s.Store.Events(ctx, c.id, c.last, historyPage, 0)
		if err != nil {
			return err
		}
		if err := c.send(evs); err != nil {
			return err
		}
		if len(evs) < historyPage {
			return nil
		}
	}
}

// send writes the events after the last one sent and flushes. It returns
// errStreamEnded after a final event.
func (c *sseClient) send(evs []store.StreamEvent) error {
	frames := make([]frame, 0, len(evs))
	for _, ev := range evs {
		if f, ok := encodeFrame(ev); ok {
			frames = append(frames, f)
		}
	}
	return c.sendFrames(frames)
}

// sendFrames is send for events already framed (by the hub, once for all its clients).
func (c *sseClient) sendFrames(frames []frame) error {
	if len(frames) == 0 {
		return nil
	}
	for _, f := range frames {
		if c.last != "" && !f.sid.after(c.lastID) {
			continue
		}
		if _, err := c.sink.Write(f.data); err != nil {
			return err
		}
		c.last, c.lastID = f.id, f.sid
		if f.final {
			if err := c.flush(); err != nil {
				return err
			}
			return errStreamEnded
		}
	}
	return c.flush()
}

func (c *sseClient) heartbeat() error {
	if _, err := c.sink.Write([]byte(": heartbeat\n\n")); err != nil {
		return err
	}
	return c.flush()
}

func (c *sseClient) flush() error { return c.sink.Flush() }

// frame is one event in SSE framing, ready to write.
type frame struct {
	id    string
	sid   streamID
	data  []byte
	final bool
}

// encodeFrame frames one event; ok is false for an entry whose id is not a
// stream id (never from Redis). The event name is one of three fixed words and
// the data is one line of JSON (encoding/json escapes newlines), so nothing
// read from the stream can forge a field or an event.
func encodeFrame(ev store.StreamEvent) (frame, bool) {
	sid, ok := parseStreamID(ev.ID)
	if !ok {
		return frame{}, false
	}
	name := store.EventStage
	switch ev.Type {
	case store.EventDone, store.EventError:
		name = ev.Type
	}
	data, err := json.Marshal(ev)
	if err != nil {
		data = []byte(`{"id":"` + ev.ID + `","type":"stage","message":"unencodable event"}`)
	}
	buf := make([]byte, 0, len(data)+len(ev.ID)+len(name)+24)
	buf = append(buf, "id: "...)
	buf = append(buf, ev.ID...)
	buf = append(buf, "\nevent: "...)
	buf = append(buf, name...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	return frame{id: ev.ID, sid: sid, data: buf, final: ev.Final()}, true
}

package api

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Idle SSE clients without goroutines. Over HTTP/1.x the events handler
// takes the connection from net/http (Hijack), writes the response header
// and the history itself, and then parks the client in its hub instead of
// waiting in a goroutine: a parked client is a connection and a cursor into
// the hub's list, about 1 KiB, where a waiting handler holds net/http's
// per-connection state (buffers, request, two goroutine stacks: about
// 32 KiB). When the hub publishes a batch, or a heartbeat is due, each parked
// client gets a goroutine that writes what it lacks, under a write deadline,
// and parks again; a slow client only delays its own goroutine. A client
// that went away is found by the next write that fails (at the latest the
// next heartbeat), since nothing reads a parked connection.
//
// HTTP/2 connections cannot be hijacked; their clients wait in the handler
// as before (sseClient.run).

// parked is one hijacked event stream.
type parked struct {
	s    *server
	h    *hub
	conn net.Conn
	// node, last and lastID are used by one goroutine at a time: the handler,
	// then each drain in turn (park and publish hand the client over under
	// the hub's lock).
	node   *node
	last   string
	lastID streamID
	once   sync.Once
}

// hijack takes the connection of an HTTP/1.x response and writes the
// response header (w's header fields, a 200, a body that ends with the
// connection). ok is false when the connection cannot be taken (HTTP/2), and
// nothing is written then.
func (s *server) hijack(w http.ResponseWriter, r *http.Request) (net.Conn, bool) {
	if r.ProtoMajor != 1 {
		return nil, false
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, false
	}
	_ = brw // its reader may hold bytes a client sent after its request; an event stream reads nothing more
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	h := w.Header().Clone()
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	_ = h.Write(&head)
	head.WriteString("\r\n")
	_ = conn.SetWriteDeadline(time.Now().Add(s.SSEWriteTimeout))
	if _, err := conn.Write(head.Bytes()); err != nil {
		_ = conn.Close()
		return nil, true // taken, and already gone
	}
	return conn, true
}

// connSink is the sseClient writer of a hijacked connection: buffered while
// the history is sent, each write under the stream's write deadline.
type connSink struct {
	conn    net.Conn
	bw      *bufio.Writer
	timeout time.Duration
}

func (c *connSink) Write(p []byte) (int, error) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.bw.Write(p)
}

func (c *connSink) Flush() error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.bw.Flush()
}

// runHijacked sends the history on conn, joins the hub and parks the client.
// It returns once the client is parked or has ended; it never waits for
// live events.
func (c *sseClient) runHijacked(ctx context.Context, conn net.Conn) {
	sink := &connSink{conn: conn, bw: bufio.NewWriterSize(conn, 4096), timeout: c.s.SSEWriteTimeout}
	c.sink = sink
	p := &parked{s: c.s, conn: conn}
	if _, err := sink.Write([]byte("retry: 2000\n\n")); err != nil {
		p.end(nil)
		return
	}
	if err := c.history(ctx); err != nil {
		p.end(nil)
		return
	}
	h, n := c.s.hubs.join(c.id, c.last)
	p.h = h
	if err := c.history(ctx); err != nil {
		p.end(h)
		return
	}
	if err := sink.Flush(); err != nil {
		p.end(h)
		return
	}
	p.node, p.last, p.lastID = n, c.last, c.lastID
	p.drain(false)
}

// drainChunk is the most one write sends: the write deadline is per write,
// so a long backlog is sent in pieces each of which must go within it.
const drainChunk = 32 << 10

// drain sends every frame of the filled nodes from p.node on (and a
// heartbeat when beat and there is nothing else), then parks p; it loops
// when a batch arrived meanwhile. A failed write or a final event ends p.
func (p *parked) drain(beat bool) {
	var buf []byte
	send := func() bool {
		if len(buf) == 0 {
			return true
		}
		_ = p.conn.SetWriteDeadline(time.Now().Add(p.s.SSEWriteTimeout))
		_, err := p.conn.Write(buf)
		buf = buf[:0]
		return err == nil
	}
	for {
		final := false
	filled:
		for !final {
			select {
			case <-p.node.ready:
			default:
				break filled
			}
			for _, f := range p.node.frames {
				if p.last != "" && !f.sid.after(p.lastID) {
					continue
				}
				buf = append(buf, f.data...)
				p.last, p.lastID = f.id, f.sid
				if f.final {
					final = true
					break
				}
				if len(buf) >= drainChunk && !send() {
					p.end(p.h)
					return
				}
			}
			p.node = p.node.next
		}
		if len(buf) == 0 && beat {
			buf = append(buf, ": heartbeat\n\n"...)
		}
		beat = false
		if !send() || final {
			p.end(p.h)
			return
		}
		switch p.h.park(p) {
		case parkedOK:
			return
		case parkStopped:
			p.end(p.h)
			return
		}
		// parkFilled: a batch came in while writing; send it.
	}
}

// end closes the stream once: the connection, the hub subscription (if it
// joined one) and the client gauge.
func (p *parked) end(h *hub) {
	p.once.Do(func() {
		_ = p.conn.Close()
		if h != nil {
			p.s.hubs.leave(h)
		}
		p.s.Metrics.SSEClients.Dec()
	})
}

type parkResult int

const (
	parkedOK    parkResult = iota // parked: publish or a heartbeat wakes it
	parkFilled                    // its node is filled already: send on
	parkStopped                   // the app is stopping: end the stream
)

// park hands p to the hub until its node is filled or a heartbeat is due.
// Under the hub's lock, so a batch published meanwhile is never missed:
// either park sees the node filled, or publish finds p parked.
func (h *hub) park(p *parked) parkResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.stopped:
		return parkStopped
	case p.node != h.tail:
		return parkFilled
	}
	if h.parked == nil {
		h.parked = map[*parked]struct{}{}
	}
	h.parked[p] = struct{}{}
	return parkedOK
}

// takeParked removes and returns every parked client; stop also marks the
// hub stopped, so no client parks again.
func (h *hub) takeParked(stop bool) map[*parked]struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.parked
	h.parked = nil
	h.stopped = h.stopped || stop
	return out
}

// beat wakes the hub's parked clients every interval for a heartbeat, and
// ends them when stop is closed; it returns when ctx ends (the hub's last
// client left).
func (hs *hubs) beat(ctx context.Context, h *hub) {
	t := time.NewTicker(hs.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hs.stop: // a nil channel never fires
			for p := range h.takeParked(true) {
				p.end(h)
			}
			return
		case <-t.C:
			for p := range h.takeParked(false) {
				go p.drain(true)
			}
		}
	}
}

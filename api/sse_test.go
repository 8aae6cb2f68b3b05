package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandadeploy/panda/api"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

func stage(name, msg string) store.Event {
	return store.Event{Type: store.EventStage, Stage: name, Message: msg}
}

// expect reads events and checks their ids and messages.
func expect(t *testing.T, s *sseStream, ids []string, msgs []string) {
	t.Helper()
	for i := range ids {
		ev, err := s.nextEvent()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.ID != ids[i] || ev.Data.ID != ids[i] || ev.Data.Message != msgs[i] {
			t.Fatalf("event %d = id %s %q, want id %s %q", i, ev.ID, ev.Data.Message, ids[i], msgs[i])
		}
	}
}

func TestEventsHistoryThenLive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.deployment()
	var ids, msgs []string
	add := func(ev store.Event) {
		ids, msgs = append(ids, appendEvent(t, e.st, d.ID, ev)), append(msgs, ev.Message)
	}
	add(stage("clone", "cloning"))
	add(stage("clone", "cloned"))
	add(stage("build", "Step 1/3"))

	s, resp := e.openEvents(t.Context(), d.ID, "")
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	expect(t, s, ids, msgs)

	add(stage("build", "Step 2/3"))
	add(stage("push", "pushing"))
	expect(t, s, ids[3:], msgs[3:])

	add(store.Event{Type: store.EventDone, Message: "deployed"})
	ev, err := s.nextEvent()
	if err != nil || ev.Event != "done" || ev.ID != ids[5] {
		t.Fatalf("final event %+v, %v", ev, err)
	}
	if _, err := s.next(); err != io.EOF {
		t.Errorf("stream did not end after done: %v", err)
	}
}

// TestEventsServeEarlierStreams: a stream written before typed events (its
// details were map literals, commit 7c6b7d0) is served as it was written,
// and each event still names its SSE event by its type.
func TestEventsServeEarlierStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.deployment()
	written := []store.Event{
		{Type: "stage", Stage: "clone", Message: "Clone finished in 1.2s", Details: json.RawMessage(`{"durationMs":1200,"imageUri":"","phase":"finished","state":"succeeded"}`)},
		{Type: "stage", Message: "ECR answered 503; retrying"},
		{Type: "error", Stage: "push", Message: "Push failed", Details: json.RawMessage(`{"imageUri":"","state":"failed","status":"FAILED"}`)},
	}
	for _, ev := range written {
		appendEvent(t, e.st, d.ID, ev)
	}
	s, _ := e.openEvents(t.Context(), d.ID, "")
	for i, want := range written {
		got, err := s.nextEvent()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got.Event != want.Type || got.Data.Type != want.Type || got.Data.Message != want.Message || string(got.Data.Details) != string(want.Details) {
			t.Errorf("event %d: %s %+v (details %s), want %+v (details %s)", i, got.Event, got.Data.Event, got.Data.Details, want, want.Details)
		}
		if _, err := events.Parse(got.Data.Event); err != nil {
			t.Errorf("event %d does not parse: %v", i, err)
		}
	}
}

func TestEventsResumeWithLastEventID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.deployment()
	var ids []string
	for i := range 5 {
		ids = append(ids, appendEvent(t, e.st, d.ID, stage("build", fmt.Sprintf("line %d", i))))
	}
	// The client saw up to ids[1], dropped, and reconnects while the worker goes on.
	s, _ := e.openEvents(t.Context(), d.ID, ids[1])
	expect(t, s, ids[2:], []string{"line 2", "line 3", "line 4"})
	last := appendEvent(t, e.st, d.ID, store.Event{Type: store.EventError, Stage: "push", Message: "denied"})
	ev, err := s.nextEvent()
	if err != nil || ev.Event != "error" || ev.ID != last {
		t.Fatalf("got %+v, %v; want the error event %s", ev, err, last)
	}
	if _, err := s.next(); err != io.EOF {
		t.Errorf("stream did not end after error: %v", err)
	}

	// Resuming after the last event of a finished stream returns nothing, at once.
	s, _ = e.openEvents(t.Context(), d.ID, ids[4])
	ev, err = s.nextEvent()
	if err != nil || ev.ID != last {
		t.Fatalf("resume at the end: %+v %v", ev, err)
	}
}

func TestEventsBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.deployment()
	for _, last := range []string{"abc", "1-", "-1", "1-1-1", "1 -1", "99999999999999999999999-1"} {
		_, resp := e.openEvents(t.Context(), d.ID, last)
		if resp.StatusCode != 400 {
			t.Errorf("Last-Event-ID %q: %d", last, resp.StatusCode)
		}
	}
	for _, id := range []string{store.NewID(), "dep_x", "%0d%0aX:1"} {
		_, resp := e.openEvents(t.Context(), id, "")
		if resp.StatusCode != 404 {
			t.Errorf("events of %q: %d", id, resp.StatusCode)
		}
	}
}

func TestEventsHeartbeatAndDisconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *api.Options) { o.Heartbeat = 30 * time.Millisecond })
	d := e.deployment()
	ctx, cancel := context.WithCancel(t.Context())
	s, _ := e.openEvents(ctx, d.ID, "")
	ev, err := s.next()
	if err != nil || ev.Comment != "heartbeat" {
		t.Fatalf("first frame %+v, %v; want a heartbeat", ev, err)
	}
	if n := gaugeValue(t, e, "panda_sse_clients"); n != "1" {
		t.Errorf("panda_sse_clients = %s while connected", n)
	}
	cancel()
	waitFor(t, func() bool { return gaugeValue(t, e, "panda_sse_clients") == "0" }, "the handler to end after the client left")
}

func gaugeValue(t *testing.T, e *testEnv, name string) string {
	t.Helper()
	for _, line := range strings.Split(e.do("GET", "/metrics", "", "").Raw, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEventsAcrossInstances: a worker appends to Redis; clients of two app
// instances (two api.New on two connections to one Redis) both receive it.
func TestEventsAcrossInstances(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := newEnvOn(t, a.redisURL)
	worker := newEnvOn(t, a.redisURL).st
	d := a.deployment()
	first := appendEvent(t, worker, d.ID, stage("clone", "cloning"))
	sa, _ := a.openEvents(t.Context(), d.ID, "")
	sb, _ := b.openEvents(t.Context(), d.ID, "")
	expect(t, sa, []string{first}, []string{"cloning"})
	expect(t, sb, []string{first}, []string{"cloning"})
	second := appendEvent(t, worker, d.ID, stage("build", "building"))
	expect(t, sb, []string{second}, []string{"building"})
	expect(t, sa, []string{second}, []string{"building"})
}

// TestEventsManyClients: 200 clients on one deployment, joining at
// different moments, all receive every event once and in order.
func TestEventsManyClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.deployment()
	const clients, events = 200, 30
	appendEvent(t, e.st, d.ID, stage("clone", "0"))
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := make(chan struct{})
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, resp := openEvents(t, t.Context(), e.srv.URL, d.ID, "")
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("client %d: status %d", c, resp.StatusCode)
				return
			}
			for i := 0; ; i++ {
				ev, err := s.nextEvent()
				if err == io.EOF && i == events+1 {
					return
				}
				if err != nil {
					errs <- fmt.Errorf("client %d event %d: %w", c, i, err)
					return
				}
				if want := fmt.Sprint(i); ev.Data.Message != want && !(i == events && ev.Event == "done") {
					errs <- fmt.Errorf("client %d: event %d is %q", c, i, ev.Data.Message)
					return
				}
			}
		}()
	}
	close(start)
	for i := 1; i < events; i++ {
		appendEvent(t, e.st, d.ID, stage("build", fmt.Sprint(i)))
		time.Sleep(time.Millisecond)
	}
	appendEvent(t, e.st, d.ID, store.Event{Type: store.EventDone, Message: "done"})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestEventsSlowClientDoesNotSlowOthers: a client that never reads fills its
// socket buffers; a reading client still receives everything at once, and the
// stuck one is dropped after the write timeout.
func TestEventsSlowClientDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *api.Options) { o.SSEWriteTimeout = 300 * time.Millisecond })
	d := e.deployment()
	stuck, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if tcp, ok := stuck.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4096)
	}
	fmt.Fprintf(stuck, "GET /api/v1/deploy/%s/events HTTP/1.1\r\nHost: x\r\n\r\n", d.ID)
	s, _ := e.openEvents(t.Context(), d.ID, "")
	waitFor(t, func() bool { return gaugeValue(t, e, "panda_sse_clients") == "2" }, "both clients to connect")

	chunk := strings.Repeat("x", 16<<10)
	const n = 1000 // 16 MB: more than the socket buffers of the stuck client hold
	go func() {
		for i := range n {
			appendEvent(t, e.st, d.ID, events.Log{Stage: pipeline.StageBuild, Line: fmt.Sprint(i) + " " + chunk}.Event())
		}
		appendEvent(t, e.st, d.ID, store.Event{Type: store.EventDone, Message: "done"})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		ev, err := s.nextEvent()
		if err != nil {
			t.Fatalf("reading client, event %d: %v", i, err)
		}
		if ev.Event == "done" {
			if i != n {
				t.Fatalf("done after %d events, want %d", i, n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reading client was held back")
		}
	}
	waitFor(t, func() bool { return gaugeValue(t, e, "panda_sse_clients") == "0" }, "the stuck client to be dropped")
}

// TestEventsOverHTTP2: an HTTP/2 stream cannot be taken from net/http, so
// its client waits in the handler; it gets the same history, live events
// and end as an HTTP/1.1 client.
func TestEventsOverHTTP2(t *testing.T) {
	t.Parallel()
	e := newEnvTLS(t)
	d := e.deployment()
	first := appendEvent(t, e.st, d.ID, stage("clone", "cloning"))
	s, resp := e.openEvents(t.Context(), d.ID, "")
	if resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %v", resp.Proto, resp.Header)
	}
	expect(t, s, []string{first}, []string{"cloning"})
	waitFor(t, func() bool { return gaugeValue(t, e, "panda_sse_clients") == "1" }, "the stream")
	live := appendEvent(t, e.st, d.ID, stage("build", "building"))
	expect(t, s, []string{live}, []string{"building"})
	end := appendEvent(t, e.st, d.ID, store.Event{Type: store.EventDone, Message: "deployed"})
	if ev, err := s.nextEvent(); err != nil || ev.ID != end || ev.Event != "done" {
		t.Fatalf("final event %+v, %v", ev, err)
	}
	if _, err := s.next(); err != io.EOF {
		t.Errorf("stream did not end after done: %v", err)
	}
}

// TestEventsEndOnShutdown: closing Options.Stop ends every idle stream at
// once (http.Server.Shutdown does not know streams taken from net/http), and
// a stream opened afterwards ends as soon as its history is sent.
func TestEventsEndOnShutdown(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	e := newEnv(t, func(o *api.Options) { o.Stop = stop })
	d := e.deployment()
	appendEvent(t, e.st, d.ID, stage("clone", "cloning"))
	var streams []*sseStream
	for range 3 {
		s, _ := e.openEvents(t.Context(), d.ID, "")
		if _, err := s.nextEvent(); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	waitFor(t, func() bool { return gaugeValue(t, e, "panda_sse_clients") == "3" }, "three idle streams")
	close(stop)
	for i, s := range streams {
		done := make(chan error, 1)
		go func() { _, err := s.nextEvent(); done <- err }()
		select {
		case err := <-done:
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Errorf("stream %d after stop: %v, want its end", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("stream %d still open after stop", i)
		}
	}
	waitFor(t, func() bool { return gaugeValue(t, e, "panda_sse_clients") == "0" }, "no stream left")
}

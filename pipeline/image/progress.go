package image

import (
	"context"
	"io"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// progress follows one build's BuildKit status stream. Both builders feed it
// *client.SolveStatus values (buildkitd sends them; the engine's are decoded from
// its moby.buildkit.trace messages) and it does two things with them: renders
// them as BuildKit's own plain progress, line by line, for the log callback; and
// remembers the vertices, so a failure can be traced to the step that failed.
type progress struct {
	ch     chan *client.SolveStatus
	done   chan struct{}
	failed []*client.Vertex // the vertices that reported an error, in order
	names  map[digest.Digest]string
}

// startProgress starts rendering; every status must be sent with send, and wait
// called once the stream ended. onLog may be nil.
func startProgress(ctx context.Context, onLog func(string), redact *strings.Replacer) *progress {
	p := &progress{ch: make(chan *client.SolveStatus, 64), done: make(chan struct{}), names: map[digest.Digest]string{}}
	display := make(chan *client.SolveStatus, 64)
	go p.follow(display)
	out := io.Discard
	if onLog != nil {
		out = &logWriter{lines: lineSplitter{emit: func(line string) {
			if redact != nil {
				line = redact.Replace(line)
			}
			onLog(line)
		}}}
	}
	go func() {
		defer close(p.done)
		// PlainMode never fails to build: only the tty modes need a console.
		d, _ := progressui.NewDisplay(out, progressui.PlainMode)
		// The display runs until the channel closes; a cancelled build closes it too.
		_, _ = d.UpdateFrom(context.WithoutCancel(ctx), display)
		if w, ok := out.(*logWriter); ok {
			w.lines.flush()
		}
	}()
	return p
}

// follow records what the vertices say and hands each status on to the display.
func (p *progress) follow(display chan<- *client.SolveStatus) {
	defer close(display)
	for s := range p.ch {
		for _, v := range s.Vertexes {
			if v.Name != "" {
				p.names[v.Digest] = v.Name
			}
			if v.Error != "" {
				p.failed = append(p.failed, v)
			}
		}
		display <- s
	}
}

// send passes one status on.
func (p *progress) send(s *client.SolveStatus) { p.ch <- s }

// channel is the channel buildkit's client.Solve writes to and closes.
func (p *progress) channel() chan *client.SolveStatus { return p.ch }

// close ends the stream when the caller owns the channel (the engine builder).
func (p *progress) close() { close(p.ch) }

// wait blocks until every status was rendered: no log line comes after it.
func (p *progress) wait() { <-p.done }

// failedStep returns the name of the Dockerfile step that failed, e.g.
// "[build 2/4] RUN make", and its error, or "" when no step failed. Vertices that
// are not steps can fail without failing the build (a registry cache that does
// not exist yet: "importing cache manifest from ..."), so only step vertices count.
func (p *progress) failedStep() (name, msg string) {
	for _, v := range p.failed {
		name := v.Name
		if name == "" {
			name = p.names[v.Digest]
		}
		if vertexName.MatchString(name) {
			return name, v.Error
		}
	}
	return "", ""
}

// logWriter turns the display's writes into lines.
type logWriter struct{ lines lineSplitter }

func (w *logWriter) Write(b []byte) (int, error) {
	w.lines.write(string(b))
	return len(b), nil
}

package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/pkg/jsonmessage"
)

// engineReport is an error the engine reported inside a build or push stream: the
// operation ran and failed, as opposed to the engine not answering.
type engineReport struct {
	Message string
}

func (e *engineReport) Error() string { return e.Message }

// streamBroken wraps a failure to read the engine's stream: the connection dropped
// or the engine sent something that is not a JSON message.
type streamBroken struct {
	Err error
}

func (e *streamBroken) Error() string { return "read engine stream: " + e.Err.Error() }
func (e *streamBroken) Unwrap() error { return e.Err }

// readStream decodes the engine's JSON messages from r and calls fn with each until
// the stream ends. An error message in the stream stops it with *engineReport; a
// stream that cannot be read to its end yields *streamBroken.
func readStream(r io.Reader, fn func(*jsonmessage.JSONMessage)) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonmessage.JSONMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &streamBroken{Err: err}
		}
		if m.Error != nil {
			return &engineReport{Message: strings.TrimSpace(m.Error.Message)}
		}
		fn(&m)
	}
}

// statusLine renders a status message (pull or push progress) as one log line, or
// "" for byte-count updates, which would flood a log with thousands of lines.
func statusLine(m *jsonmessage.JSONMessage) string {
	if m.Status == "" || (m.Progress != nil && (m.Progress.Current != 0 || m.Progress.Total != 0)) {
		return ""
	}
	if m.ID != "" {
		return m.ID + ": " + m.Status
	}
	return m.Status
}

// lineSplitter turns the engine's stream fragments, which may hold several lines or
// part of one, into whole lines without their line ending.
type lineSplitter struct {
	pending string
	emit    func(string)
}

func (s *lineSplitter) write(text string) {
	s.pending += text
	for {
		i := strings.IndexByte(s.pending, '\n')
		if i < 0 {
			return
		}
		s.emit(strings.TrimRight(s.pending[:i], "\r"))
		s.pending = s.pending[i+1:]
	}
}

// flush emits a last line that had no line ending.
func (s *lineSplitter) flush() {
	if s.pending != "" {
		s.emit(strings.TrimRight(s.pending, "\r"))
		s.pending = ""
	}
}

// decodeAux unmarshals an aux message into v.
func decodeAux(m *jsonmessage.JSONMessage, v any) error {
	if err := json.Unmarshal(*m.Aux, v); err != nil {
		return fmt.Errorf("decode aux message: %w", err)
	}
	return nil
}

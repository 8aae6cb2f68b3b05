package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event types, as the SSE `event:` field names them.
const (
	EventStage = "stage"
	EventDone  = "done"
	EventError = "error"
)

// Event is one entry of a deployment's event stream, in the seed system's JSON
// shape (type, message, timestamp, details) plus the stage it belongs to. The
// store keeps the details as the JSON object they were written as and hands
// them back byte for byte, so an entry written by any version reads the same;
// what they hold is package events' business (one Go type per kind).
type Event struct {
	Type      string          `json:"type"`
	Stage     string          `json:"stage,omitempty"`
	Message   string          `json:"message"`
	Timestamp time.Time       `json:"timestamp"`
	Details   json.RawMessage `json:"details,omitempty"`
}

// StreamEvent is an Event with its stream entry id, which is also the SSE id:
// a client that reconnects with Last-Event-ID resumes right after it.
type StreamEvent struct {
	ID string `json:"id"`
	Event
}

// Final reports whether the event ends the stream.
func (e Event) Final() bool { return e.Type == EventDone || e.Type == EventError }

// Append adds ev to the deployment's event stream and returns its id. The
// stream is capped (approximately) at StreamMaxLen entries, so a chatty build
// cannot grow it without bound.
func (s *Store) Append(ctx context.Context, id string, ev Event) (string, error) {
	if ev.Timestamp.IsZero() {
		ev.Timestamp = s.now()
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("encode event: %w", err)
	}
	maxLen := s.StreamMaxLen
	if maxLen <= 0 {
		maxLen = 10000
	}
	entry, err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: eventsKey(id),
		MaxLen: maxLen,
		Approx: true,
		Values: []any{"e", data},
	}).Result()
	if err != nil {
		return "", fmt.Errorf("append event to %s: %w", id, err)
	}
	return entry, nil
}

// Events returns up to count events after the entry id after ("" or "0" for the
// beginning). With block > 0 it waits up to block for new events when there
// are none yet, and returns an empty slice on timeout.
func (s *Store) Events(ctx context.Context, id, after string, count int64, block time.Duration) ([]StreamEvent, error) {
	if after == "" {
		after = "0"
	}
	if block <= 0 {
		msgs, err := s.rdb.XRangeN(ctx, eventsKey(id), "("+after, "+", count).Result()
		if err != nil {
			return nil, fmt.Errorf("read events of %s: %w", id, err)
		}
		return decodeEvents(msgs), nil
	}
	streams, err := s.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{eventsKey(id), after},
		Count:   count,
		Block:   block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wait for events of %s: %w", id, err)
	}
	if len(streams) == 0 {
		return nil, nil
	}
	return decodeEvents(streams[0].Messages), nil
}

func decodeEvents(msgs []redis.XMessage) []StreamEvent {
	out := make([]StreamEvent, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["e"].(string)
		var ev Event
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			// A corrupt entry must not stop the stream: show it as such.
			ev = Event{Type: EventStage, Message: "unreadable event"}
		}
		out = append(out, StreamEvent{ID: m.ID, Event: ev})
	}
	return out
}

// HasFinalEvent reports whether one of the last n events of the deployment's
// stream is its done or error event.
func (s *Store) HasFinalEvent(ctx context.Context, id string, n int64) (bool, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, eventsKey(id), "+", "-", n).Result()
	if err != nil {
		return false, fmt.Errorf("read last events of %s: %w", id, err)
	}
	for _, ev := range decodeEvents(msgs) {
		if ev.Final() {
			return true, nil
		}
	}
	return false, nil
}

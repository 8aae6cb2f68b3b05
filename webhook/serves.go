package webhook

import (
	"context"
	"sync"
	"time"

	"github.com/pandadeploy/panda/store"
)

// servesCache keeps the store's answer to "does Panda serve this repository
// of this installation?" for a short while. The look-up was one Redis round
// trip of the three each delivery cost (a quarter of the app's CPU per
// delivery at 2,000/s, most of it in the write and read system calls), and
// bursts come from few repositories. Reusing an answer for a second changes
// little of what is served: the store itself learns of a suspension or of a
// repository added or removed only when the worker has handled that
// installation event, which already takes from milliseconds to seconds.
// Failed look-ups are not kept.
type servesCache struct {
	mu      sync.Mutex
	entries map[servesKey]servesEntry
}

type servesKey struct {
	installation int64
	repo         store.RepoRef
}

type servesEntry struct {
	serves bool
	until  time.Time
}

// maxServesEntries bounds the cache: past it, it starts again empty, which
// costs one look-up per repository and keeps the memory bounded whatever
// repositories the deliveries name.
const maxServesEntries = 10_000

// serves answers from the cache when it holds a fresh answer, else from
// lookup, keeping a successful answer for ttl.
func (c *servesCache) serves(ctx context.Context, ttl time.Duration, inst int64, repo store.RepoRef,
	lookup func(ctx context.Context, inst int64, repo store.RepoRef) (bool, bool, error)) (bool, error) {
	if ttl <= 0 {
		ok, _, err := lookup(ctx, inst, repo)
		return ok, err
	}
	key, now := servesKey{inst, repo}, time.Now()
	c.mu.Lock()
	e, hit := c.entries[key]
	c.mu.Unlock()
	if hit && now.Before(e.until) {
		return e.serves, nil
	}
	ok, _, err := lookup(ctx, inst, repo)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxServesEntries {
		c.entries = make(map[servesKey]servesEntry)
	}
	c.entries[key] = servesEntry{serves: ok, until: now.Add(ttl)}
	c.mu.Unlock()
	return ok, nil
}

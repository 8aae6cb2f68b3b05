// Package store keeps Panda's state in Redis: deployment records, each
// deployment's append-only event stream, remembered webhook deliveries,
// installations and per-environment locks.
//
// Keys of one deployment share a hash tag ({dep_…}) so they live in one slot of
// a Redis Cluster. Every method is safe for concurrent use by any number of
// app and worker processes.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound is returned when a deployment or installation does not exist.
var ErrNotFound = errors.New("not found")

// ErrFinal is returned by Update when the deployment already has a final status:
// a final status is written once.
var ErrFinal = errors.New("deployment already finished")

// Store is Panda's Redis-backed state.
type Store struct {
	rdb redis.UniversalClient
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// StreamMaxLen bounds each deployment's event stream. If zero, 10,000 entries.
	StreamMaxLen int64
	// Retention is how long finished deployments are kept. If zero, 30 days.
	Retention time.Duration
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Redis returns the client, for readiness checks.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Store) retention() time.Duration {
	if s.Retention > 0 {
		return s.Retention
	}
	return 30 * 24 * time.Hour
}

func recordKey(id string) string      { return "panda:{" + id + "}:record" }
func eventsKey(id string) string      { return "panda:{" + id + "}:events" }
func claimKey(key string) string      { return "panda:claim:" + key }
func repoIndexKey(repo string) string { return "panda:deps:repo:" + repo }

const allIndexKey = "panda:deps:all"

// Create stores d unless a deployment was already created under claim, and
// returns the deployment stored under claim either way. created is true when
// this call made it. claim is a stable name for the intent (for example the
// delivery id and environment), so a retried task finds the deployment its
// earlier attempt made instead of making a second one.
func (s *Store) Create(ctx context.Context, claim string, d *Deployment) (_ *Deployment, created bool, err error) {
	ok, err := s.rdb.SetNX(ctx, claimKey(claim), d.ID, s.retention()).Result()
	if err != nil {
		return nil, false, fmt.Errorf("claim deployment %s: %w", claim, err)
	}
	if !ok {
		id, err := s.rdb.Get(ctx, claimKey(claim)).Result()
		if err != nil {
			return nil, false, fmt.Errorf("read claim %s: %w", claim, err)
		}
		existing, err := s.Get(ctx, id)
		if err == nil {
			return existing, false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, false, err
		}
		// The earlier attempt claimed the id and stopped before writing the record:
		// finish its work under the id it claimed.
		d.ID = id
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.now()
	}
	if err := s.write(ctx, d, true); err != nil {
		return nil, false, err
	}
	score := float64(d.CreatedAt.UnixMilli())
	if err := s.rdb.ZAdd(ctx, repoIndexKey(d.Repo), redis.Z{Score: score, Member: d.ID}).Err(); err != nil {
		return nil, false, fmt.Errorf("index deployment %s: %w", d.ID, err)
	}
	if err := s.rdb.ZAdd(ctx, allIndexKey, redis.Z{Score: score, Member: d.ID}).Err(); err != nil {
		return nil, false, fmt.Errorf("index deployment %s: %w", d.ID, err)
	}
	return d, true, nil
}

func (s *Store) write(ctx context.Context, d *Deployment, onlyNew bool) error {
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode deployment %s: %w", d.ID, err)
	}
	if onlyNew {
		err = s.rdb.SetNX(ctx, recordKey(d.ID), data, 0).Err()
	} else {
		err = s.rdb.Set(ctx, recordKey(d.ID), data, 0).Err()
	}
	if err != nil {
		return fmt.Errorf("write deployment %s: %w", d.ID, err)
	}
	return nil
}

// Get returns the deployment with id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Deployment, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	return get(ctx, s.rdb, id)
}

func get(ctx context.Context, c redis.Cmdable, id string) (*Deployment, error) {
	data, err := c.Get(ctx, recordKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("deployment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read deployment %s: %w", id, err)
	}
	var d Deployment
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("decode deployment %s: %w", id, err)
	}
	return &d, nil
}

// Update applies fn to the deployment and writes it back atomically (optimistic
// locking: fn may run more than once if another process writes concurrently,
// so it must only change d). A deployment with a final status is not changed
// and ErrFinal is returned: the final status is written once. When fn sets a
// final status, the record and its events expire after the retention period.
func (s *Store) Update(ctx context.Context, id string, fn func(d *Deployment) error) (*Deployment, error) {
	return s.update(ctx, id, false, fn)
}

// Reported removes item from the outbox of the deployment (final or not):
// GitHub has accepted that final update. Removing an item that is not there
// changes nothing.
func (s *Store) Reported(ctx context.Context, id, item string) (*Deployment, error) {
	return s.update(ctx, id, true, func(d *Deployment) error {
		kept := d.Outbox[:0]
		for _, it := range d.Outbox {
			if it != item {
				kept = append(kept, it)
			}
		}
		d.Outbox = kept
		if len(kept) == 0 {
			d.Outbox = nil
		}
		return nil
	})
}

// update is Update; with outboxOnly it may change a final deployment, which
// only Reported does, keeping the record's expiry.
func (s *Store) update(ctx context.Context, id string, outboxOnly bool, fn func(d *Deployment) error) (*Deployment, error) {
	key := recordKey(id)
	var out *Deployment
	var ended bool
	txf := func(tx *redis.Tx) error {
		d, err := get(ctx, tx, id)
		if err != nil {
			return err
		}
		wasFinal := d.Status.Final()
		ended = false
		if wasFinal && !outboxOnly {
			return ErrFinal
		}
		if err := fn(d); err != nil {
			return err
		}
		data, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode deployment %s: %w", id, err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if wasFinal {
				p.SetArgs(ctx, key, data, redis.SetArgs{KeepTTL: true})
				return nil
			}
			p.Set(ctx, key, data, 0)
			if d.Status.Final() {
				ended = true
				p.Expire(ctx, key, s.retention())
				p.Expire(ctx, eventsKey(id), s.retention())
			}
			return nil
		})
		out = d
		return err
	}
	for range 50 {
		err := s.rdb.Watch(ctx, txf, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update deployment %s: %w", id, err)
		}
		if ended {
			// Whatever still works for it (on any worker) stops: see WhileRunning.
			s.announceEnded(ctx, id)
		}
		return out, nil
	}
	return nil, fmt.Errorf("update deployment %s: too much contention", id)
}

// Filter selects deployments in List. Empty fields match everything.
type Filter struct {
	Repo   string
	SHA    string
	Status Status
	// Limit caps the answer. If zero, 50.
	Limit int
}

// List returns the newest deployments matching f, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]*Deployment, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	key := allIndexKey
	if f.Repo != "" {
		key = repoIndexKey(f.Repo)
	}
	var out []*Deployment
	const pageSize = 200
	for start := int64(0); len(out) < limit; start += pageSize {
		ids, err := s.rdb.ZRevRange(ctx, key, start, start+pageSize-1).Result()
		if err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		page, err := s.getMany(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, d := range page {
			if (f.Repo == "" || d.Repo == f.Repo) && (f.SHA == "" || d.SHA == f.SHA) && (f.Status == "" || d.Status == f.Status) {
				out = append(out, d)
				if len(out) == limit {
					break
				}
			}
		}
		if len(ids) < pageSize {
			break
		}
	}
	return out, nil
}

// getMany reads the records of ids in one round trip (a pipeline of GETs: the
// records live in different Cluster slots, so MGET would not do), in order,
// leaving out those that expired after their retention.
func (s *Store) getMany(ctx context.Context, ids []string) ([]*Deployment, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, recordKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read deployments: %w", err)
	}
	out := make([]*Deployment, 0, len(ids))
	for i, cmd := range cmds {
		data, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read deployment %s: %w", ids[i], err)
		}
		var d Deployment
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("decode deployment %s: %w", ids[i], err)
		}
		out = append(out, &d)
	}
	return out, nil
}

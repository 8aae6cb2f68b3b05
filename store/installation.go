package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Installation is an installation of the GitHub App and the repositories it covers.
type Installation struct {
	ID        int64     `json:"id"`
	Account   string    `json:"account"`
	Suspended bool      `json:"suspended,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
	// AllRepos is true when the installation covers every repository of the account.
	AllRepos bool `json:"allRepos,omitempty"`
}

// An installation's two keys share a hash tag, so the transactions that write
// both work on a Redis Cluster.
func installationKey(id int64) string      { return fmt.Sprintf("panda:inst:{%d}", id) }
func installationReposKey(id int64) string { return fmt.Sprintf("panda:inst:{%d}:repos", id) }

// PutInstallation stores inst and, when repos is not nil, replaces its repositories.
func (s *Store) PutInstallation(ctx context.Context, inst Installation, repos []string) error {
	inst.UpdatedAt = s.now()
	data, err := json.Marshal(inst)
	if err != nil {
		return fmt.Errorf("encode installation %d: %w", inst.ID, err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, installationKey(inst.ID), data, 0)
		if repos != nil {
			p.Del(ctx, installationReposKey(inst.ID))
			if len(repos) > 0 {
				p.SAdd(ctx, installationReposKey(inst.ID), toAny(repos)...)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store installation %d: %w", inst.ID, err)
	}
	return nil
}

// ChangeRepos adds and removes repositories of an installation.
func (s *Store) ChangeRepos(ctx context.Context, id int64, added, removed []string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(added) > 0 {
			p.SAdd(ctx, installationReposKey(id), toAny(added)...)
		}
		if len(removed) > 0 {
			p.SRem(ctx, installationReposKey(id), toAny(removed)...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("change repositories of installation %d: %w", id, err)
	}
	return nil
}

// DeleteInstallation forgets an installation and its repositories.
func (s *Store) DeleteInstallation(ctx context.Context, id int64) error {
	if err := s.rdb.Del(ctx, installationKey(id), installationReposKey(id)).Err(); err != nil {
		return fmt.Errorf("delete installation %d: %w", id, err)
	}
	return nil
}

// Installation returns the stored installation, or ErrNotFound.
func (s *Store) Installation(ctx context.Context, id int64) (Installation, error) {
	data, err := s.rdb.Get(ctx, installationKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Installation{}, fmt.Errorf("installation %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Installation{}, fmt.Errorf("read installation %d: %w", id, err)
	}
	var inst Installation
	if err := json.Unmarshal(data, &inst); err != nil {
		return Installation{}, fmt.Errorf("decode installation %d: %w", id, err)
	}
	return inst, nil
}

// Repos returns the repositories recorded for an installation.
func (s *Store) Repos(ctx context.Context, id int64) ([]string, error) {
	repos, err := s.rdb.SMembers(ctx, installationReposKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read repositories of installation %d: %w", id, err)
	}
	return repos, nil
}

// Serves reports whether Panda serves repo through installation id. An
// installation Panda has no record of is served (known is false): its
// installation event may predate this Redis, and GitHub only sends the App
// deliveries of its installations. A recorded installation that is suspended,
// or that does not list the repository, is not served.
func (s *Store) Serves(ctx context.Context, id int64, repo string) (serves, known bool, err error) {
	inst, err := s.Installation(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return true, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if inst.Suspended {
		return false, true, nil
	}
	if inst.AllRepos || repo == "" {
		return true, true, nil
	}
	ok, err := s.rdb.SIsMember(ctx, installationReposKey(id), repo).Result()
	if err != nil {
		return false, true, fmt.Errorf("look up repository of installation %d: %w", id, err)
	}
	return ok, true, nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// EnvName is the lock and queue name of a repository's environment.
func EnvName(repo, env string) string { return repo + ":" + env }

func readyKey(env string) string { return "panda:ready:" + env }

// Ready puts d in its environment's line of deployments whose image is pushed
// and that wait to start. The line is ordered by creation time (to the
// microsecond), ties broken by id, so every worker sees the same order.
func (s *Store) Ready(ctx context.Context, d *Deployment) error {
	key := readyKey(EnvName(d.Repo, d.Environment))
	if err := s.rdb.ZAdd(ctx, key, redis.Z{Score: float64(d.CreatedAt.UnixMicro()), Member: d.ID}).Err(); err != nil {
		return fmt.Errorf("queue deployment %s: %w", d.ID, err)
	}
	return nil
}

// LeaveLine takes d out of its environment's line.
func (s *Store) LeaveLine(ctx context.Context, d *Deployment) error {
	if err := s.rdb.ZRem(ctx, readyKey(EnvName(d.Repo, d.Environment)), d.ID).Err(); err != nil {
		return fmt.Errorf("unqueue deployment %s: %w", d.ID, err)
	}
	return nil
}

// Line reports d's place in its environment's line (d must be in it): how
// many ready deployments are before it (ahead) and the newest one after it,
// if any (newer is "" when d is the last).
func (s *Store) Line(ctx context.Context, d *Deployment) (ahead int, newer string, err error) {
	key := readyKey(EnvName(d.Repo, d.Environment))
	rank, err := s.rdb.ZRank(ctx, key, d.ID).Result()
	if err != nil {
		return 0, "", fmt.Errorf("read line of %s: %w", d.ID, err)
	}
	last, err := s.rdb.ZRange(ctx, key, -1, -1).Result()
	if err != nil {
		return 0, "", fmt.Errorf("read line of %s: %w", d.ID, err)
	}
	if len(last) == 1 && last[0] != d.ID {
		newer = last[0]
	}
	return int(rank), newer, nil
}

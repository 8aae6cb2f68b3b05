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
// and that wait to start, ordered by creation time.
func (s *Store) Ready(ctx context.Context, d *Deployment) error {
	key := readyKey(EnvName(d.Repo, d.Environment))
	if err := s.rdb.ZAdd(ctx, key, redis.Z{Score: float64(d.CreatedAt.UnixMilli()), Member: d.ID}).Err(); err != nil {
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

// Line reports d's place in its environment's line: how many ready
// deployments were created before it (ahead) and the newest one created after
// it, if any (newer is "" when d is the newest).
func (s *Store) Line(ctx context.Context, d *Deployment) (ahead int, newer string, err error) {
	key := readyKey(EnvName(d.Repo, d.Environment))
	score := fmt.Sprint(d.CreatedAt.UnixMilli())
	n, err := s.rdb.ZCount(ctx, key, "-inf", "("+score).Result()
	if err != nil {
		return 0, "", fmt.Errorf("read line of %s: %w", d.ID, err)
	}
	after, err := s.rdb.ZRevRangeByScore(ctx, key, &redis.ZRangeBy{Min: "(" + score, Max: "+inf", Count: 1}).Result()
	if err != nil {
		return 0, "", fmt.Errorf("read line of %s: %w", d.ID, err)
	}
	if len(after) > 0 {
		newer = after[0]
	}
	return int(n), newer, nil
}

package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Open connects to the Redis at url, checks that it answers and that it will
// not evict keys (CheckEvictionPolicy). The password in url is never part of
// an error. url is one of:
//
//   - redis://, rediss:// or unix://: one Redis server;
//   - redis:// or rediss:// with ?master_name=NAME: Redis Sentinel, the host
//     (and any addr= parameters) being sentinels;
//   - redis-cluster:// or rediss-cluster://: a Redis Cluster, the host (and any
//     addr= parameters) being seed nodes.
func Open(ctx context.Context, url string) (redis.UniversalClient, error) {
	rdb, err := newClient(url)
	if err != nil {
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("connect to Redis: %w", err)
	}
	if err := CheckEvictionPolicy(ctx, rdb); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return rdb, nil
}

// poolSize is the connections per node unless the URL sets pool_size: each
// deployment an app instance streams holds one in a blocking XREAD, on top of
// the queue's and the requests' own use, so go-redis' default of 10 per CPU
// runs out on a small machine.
const poolSize = 100

// newClient makes the client url names without connecting.
func newClient(url string) (redis.UniversalClient, error) {
	invalid := errors.New("PANDA_REDIS_URL is not a valid Redis URL")
	pool := !strings.Contains(url, "pool_size=")
	if rest, ok := strings.CutPrefix(url, "redis-cluster://"); ok {
		return clusterClient("redis://"+rest, pool, invalid)
	}
	if rest, ok := strings.CutPrefix(url, "rediss-cluster://"); ok {
		return clusterClient("rediss://"+rest, pool, invalid)
	}
	if strings.Contains(url, "master_name=") {
		opts, err := redis.ParseFailoverURL(url)
		if err != nil {
			return nil, invalid
		}
		if pool {
			opts.PoolSize = poolSize
		}
		return redis.NewFailoverClient(opts), nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, invalid
	}
	if pool {
		opts.PoolSize = poolSize
	}
	return redis.NewClient(opts), nil
}

func clusterClient(url string, pool bool, invalid error) (redis.UniversalClient, error) {
	opts, err := redis.ParseClusterURL(url)
	if err != nil {
		return nil, invalid
	}
	if pool {
		opts.PoolSize = poolSize
	}
	return redis.NewClusterClient(opts), nil
}

// CheckEvictionPolicy returns an error unless Redis' maxmemory-policy is
// noeviction. Under any other policy Redis may evict a queued task or a
// deployment record when memory runs short, and that deployment is lost
// without a trace. INFO is used rather than CONFIG GET because managed Redis
// services often disable CONFIG.
func CheckEvictionPolicy(ctx context.Context, rdb redis.UniversalClient) error {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return fmt.Errorf("read Redis memory settings: %w", err)
	}
	policy := infoField(info, "maxmemory_policy")
	if policy == "" || policy == "noeviction" {
		return nil
	}
	return fmt.Errorf("Redis maxmemory-policy is %q, but Panda needs noeviction (an evicted queue key is a lost deployment): "+
		"run `redis-cli CONFIG SET maxmemory-policy noeviction` and set `maxmemory-policy noeviction` in redis.conf", policy)
}

func infoField(info, name string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok && k == name {
			return v
		}
	}
	return ""
}

package store

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Open connects to the Redis at url (redis://, rediss:// or unix://), checks
// that it answers and that it will not evict keys (CheckEvictionPolicy). The
// password in url is never part of an error.
func Open(ctx context.Context, url string) (redis.UniversalClient, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("PANDA_REDIS_URL is not a valid Redis URL")
	}
	if !strings.Contains(url, "pool_size=") {
		// Each deployment an app instance streams holds a pooled connection in a
		// blocking XREAD, on top of the queue's and the requests' own use: the
		// default of 10 per CPU runs out on a small machine.
		opts.PoolSize = 100
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("connect to Redis at %s: %w", opts.Addr, err)
	}
	if err := CheckEvictionPolicy(ctx, rdb); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return rdb, nil
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

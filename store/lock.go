package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lock is a lease on a named resource (an environment), held by one token.
// Taking it is one atomic SET NX PX: a GET-then-SET lock races.
type Lock struct {
	Key   string
	Token string
}

// compare-and-delete / compare-and-extend: only the holder's token may touch the lock.
var (
	unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	extendScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
)

func lockKey(name string) string { return "panda:lock:" + name }

// TryLock takes the lock named name for ttl with token (a fresh random token
// when token is empty) and reports whether it was taken. A holder that calls
// again with its own token extends the lease and gets true.
func (s *Store) TryLock(ctx context.Context, name, token string, ttl time.Duration) (Lock, bool, error) {
	if token == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		token = hex.EncodeToString(b)
	}
	l := Lock{Key: lockKey(name), Token: token}
	ok, err := s.rdb.SetNX(ctx, l.Key, token, ttl).Result()
	if err != nil {
		return l, false, fmt.Errorf("take lock %s: %w", name, err)
	}
	if ok {
		return l, true, nil
	}
	n, err := extendScript.Run(ctx, s.rdb, []string{l.Key}, token, ttl.Milliseconds()).Int()
	if err != nil {
		return l, false, fmt.Errorf("extend lock %s: %w", name, err)
	}
	return l, n == 1, nil
}

// Unlock releases l if it is still held by l's token.
func (s *Store) Unlock(ctx context.Context, l Lock) error {
	if err := unlockScript.Run(ctx, s.rdb, []string{l.Key}, l.Token).Err(); err != nil {
		return fmt.Errorf("release lock %s: %w", l.Key, err)
	}
	return nil
}

// LockHolder returns the token holding the lock named name, or "" if it is free.
func (s *Store) LockHolder(ctx context.Context, name string) (string, error) {
	v, err := s.rdb.Get(ctx, lockKey(name)).Result()
	if err == redis.Nil {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read lock %s: %w", name, err)
	}
	return v, nil
}

// Release frees the lock named name if token holds it.
func (s *Store) Release(ctx context.Context, name, token string) error {
	return s.Unlock(ctx, Lock{Key: lockKey(name), Token: token})
}

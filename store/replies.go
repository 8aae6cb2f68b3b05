package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReplyState is what earlier attempts did about one reply Panda posts.
type ReplyState int

const (
	// ReplyNew: no attempt began posting it. Post it.
	ReplyNew ReplyState = iota
	// ReplyPending: an earlier attempt began posting it and did not record
	// that it landed; GitHub may have it (the answer was lost) or not. Look
	// for it before posting again.
	ReplyPending
	// ReplyPosted: it was posted. Do not post it again.
	ReplyPosted
)

func replyKey(key string) string { return "panda:reply:" + key }

const replyPosted = "posted"

// BeginReply records that the reply named key (a delivery and what the reply
// is for) is about to be posted, and returns what earlier attempts left: for
// ReplyPending also when that attempt began, so the caller need only look at
// comments written since. Records last DeliveryTTL, as long as a delivery can
// come again.
func (s *Store) BeginReply(ctx context.Context, key string) (ReplyState, time.Time, error) {
	now := s.now()
	ok, err := s.rdb.SetNX(ctx, replyKey(key), "pending:"+strconv.FormatInt(now.UnixMilli(), 10), DeliveryTTL).Result()
	if err != nil {
		return ReplyNew, time.Time{}, fmt.Errorf("begin reply %s: %w", key, err)
	}
	if ok {
		return ReplyNew, now, nil
	}
	v, err := s.rdb.Get(ctx, replyKey(key)).Result()
	if errors.Is(err, redis.Nil) {
		// Expired between the two calls: as good as new.
		return ReplyNew, now, nil
	}
	if err != nil {
		return ReplyNew, time.Time{}, fmt.Errorf("read reply %s: %w", key, err)
	}
	if v == replyPosted {
		return ReplyPosted, time.Time{}, nil
	}
	ms, _ := strconv.ParseInt(strings.TrimPrefix(v, "pending:"), 10, 64)
	return ReplyPending, time.UnixMilli(ms), nil
}

// ReplyDone records that the reply named key was posted.
func (s *Store) ReplyDone(ctx context.Context, key string) error {
	if err := s.rdb.Set(ctx, replyKey(key), replyPosted, DeliveryTTL).Err(); err != nil {
		return fmt.Errorf("record reply %s: %w", key, err)
	}
	return nil
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/tasks"
)

// redisProbe reads how much memory the app's Redis uses and how many webhook
// tasks wait in it. A nil *redisProbe reads nothing.
type redisProbe struct {
	rdb  *redis.Client
	insp *asynq.Inspector
}

// memSample is one reading.
type memSample struct {
	At         time.Duration // since the start of the run
	UsedMemory int64         // bytes, INFO memory used_memory
	Queued     int           // tasks in the webhook queue (pending, active, retrying)
	Processed  int           // webhook tasks processed today, per Asynq's daily counter
	OK         bool
}

func newRedisProbe(ctx context.Context, rawURL string) (*redisProbe, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("-redis is not a Redis URL")
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect to Redis at %s: %w", opts.Addr, err)
	}
	return &redisProbe{rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb)}, nil
}

func (p *redisProbe) Close() {
	if p != nil {
		p.rdb.Close()
	}
}

// sample reads once; a failed read gives a sample with OK false.
func (p *redisProbe) sample(ctx context.Context) memSample {
	if p == nil {
		return memSample{}
	}
	info, err := p.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return memSample{}
	}
	used, _ := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
	s := memSample{UsedMemory: used, OK: true}
	if q, err := p.insp.GetQueueInfo(tasks.QueueWebhooks); err == nil {
		s.Queued = q.Pending + q.Active + q.Retry + q.Scheduled
		s.Processed = q.Processed
	}
	return s
}

// sampleEverySecond samples until ctx ends and returns the samples.
func (p *redisProbe) sampleEverySecond(ctx context.Context, start time.Time) []memSample {
	if p == nil {
		return nil
	}
	var out []memSample
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
			s := p.sample(ctx)
			s.At = time.Since(start)
			out = append(out, s)
		}
	}
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

package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of acting on them,
// so the "fail under CI, skip elsewhere" rule can itself be tested. Like the real
// ones, both end the calling goroutine; run code under test with recorder.run.
type recorder struct {
	testing.TB // everything else (TempDir, Cleanup, Helper) is the real test's

	mu            sync.Mutex
	fatal, skip   string
	fatalf, skipf bool
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatalf, r.fatal = true, fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipf, r.skip = true, fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// run calls f with r in a new goroutine and waits for it to return or be ended by
// Fatalf or Skipf.
func (r *recorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func TestRequireService(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	tests := []struct {
		name      string
		err       error
		ci        bool
		wantFatal bool
		wantSkip  bool
	}{
		{name: "up_in_ci", err: nil, ci: true},
		{name: "up_outside_ci", err: nil, ci: false},
		{name: "down_in_ci_fails", err: down, ci: true, wantFatal: true},
		{name: "down_outside_ci_skips", err: down, ci: false, wantSkip: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{TB: t}
			r.run(func(tb testing.TB) { requireService(tb, "redis", tc.err, tc.ci) })
			if r.fatalf != tc.wantFatal || r.skipf != tc.wantSkip {
				t.Fatalf("fatal=%v skip=%v, want fatal=%v skip=%v", r.fatalf, r.skipf, tc.wantFatal, tc.wantSkip)
			}
			for _, msg := range []string{r.fatal, r.skip} {
				if msg != "" && !(strings.Contains(msg, "redis") && strings.Contains(msg, "connection refused")) {
					t.Errorf("message %q should name the service and the error", msg)
				}
			}
		})
	}
}

func TestStartRedisWithoutBinary(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	missing := filepath.Join(t.TempDir(), "redis-server")
	r.run(func(tb testing.TB) { StartRedis(tb, withRedisBinary(missing)) })
	// Which of the two depends on CI; that it is one of them is the contract.
	if InCI() != r.fatalf || InCI() == r.skipf {
		t.Fatalf("CI=%v: fatal=%v skip=%v", InCI(), r.fatalf, r.skipf)
	}
}

func TestRedisDefaults(t *testing.T) {
	t.Parallel()
	rdb := client(t, Redis(t))
	ctx := context.Background()
	want := map[string]string{
		"maxmemory-policy": "noeviction",
		"save":             "",
		"appendonly":       "no",
		"bind":             "127.0.0.1",
	}
	for key, value := range want {
		got, err := rdb.ConfigGet(ctx, key).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", key, err)
		}
		if got[key] != value {
			t.Errorf("%s = %q, want %q", key, got[key], value)
		}
	}
}

func TestRedisIsPrivate(t *testing.T) {
	t.Parallel()
	a, b := Redis(t), Redis(t)
	if a == b {
		t.Fatalf("two servers share %s", a)
	}
	ctx := context.Background()
	if err := client(t, a).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if n, err := client(t, b).Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS k on the other server = %d, %v; want 0", n, err)
	}
}

func TestStartRedisOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  []RedisOption
		key   string
		value string
	}{
		{name: "policy", opts: []RedisOption{WithMaxmemoryPolicy("allkeys-lru")}, key: "maxmemory-policy", value: "allkeys-lru"},
		{name: "args", opts: []RedisOption{WithRedisArgs("--maxmemory", "1mb")}, key: "maxmemory", value: "1048576"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := client(t, StartRedis(t, tc.opts...).URL())
			got, err := rdb.ConfigGet(context.Background(), tc.key).Result()
			if err != nil {
				t.Fatalf("CONFIG GET %s: %v", tc.key, err)
			}
			if got[tc.key] != tc.value {
				t.Fatalf("%s = %q, want %q", tc.key, got[tc.key], tc.value)
			}
		})
	}
}

func TestRedisStopStart(t *testing.T) {
	t.Parallel()
	srv := StartRedis(t)
	rdb := client(t, srv.URL())
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	srv.Stop()
	srv.Stop() // idempotent, as Cleanup relies on
	if conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Stop", srv.Addr())
	}
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded after Stop")
	}

	srv.Start()
	// The same client reconnects to the same address; nothing was persisted.
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
	if n, err := rdb.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS k after restart = %d, %v; want 0 (no persistence)", n, err)
	}
}

func TestRedisStartWhileRunningFails(t *testing.T) {
	t.Parallel()
	srv := StartRedis(t)
	if err := srv.start(); err == nil {
		t.Fatal("starting a running server succeeded")
	}
	if err := client(t, srv.URL()).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING after the refused start: %v", err)
	}
}

func client(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	// One quick attempt per call: Stop must show as an error, not as a wait.
	opts.MaxRetries = -1
	opts.DialTimeout = time.Second
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

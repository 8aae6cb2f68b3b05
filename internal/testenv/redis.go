package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// redisStartTimeout bounds how long a private redis-server may take to answer PING.
// It starts in a few milliseconds; the margin is for a machine busy with parallel builds.
const redisStartTimeout = 10 * time.Second

// RedisServer is a private redis-server owned by one test: on its own loopback port,
// in its own temporary directory, with no persistence and maxmemory-policy noeviction
// unless an option says otherwise. It is stopped when the test ends.
//
// Stop and Start let fault tests take the server away and bring it back on the same
// address. Call them from the test's goroutine: they stop the test on failure. URL and
// Addr may be called from any goroutine.
type RedisServer struct {
	t    testing.TB
	bin  string
	dir  string
	args []string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// RedisOption changes how StartRedis configures the server.
type RedisOption func(*redisConfig)

type redisConfig struct {
	bin    string
	policy string
	extra  []string
}

// WithMaxmemoryPolicy starts the server with policy as its maxmemory-policy instead of
// noeviction, for tests that check Panda refuses a Redis that may evict its queues.
func WithMaxmemoryPolicy(policy string) RedisOption {
	return func(c *redisConfig) { c.policy = policy }
}

// WithRedisArgs appends command-line configuration to the server's, for example
// WithRedisArgs("--maxmemory", "1mb") to test running out of memory. Later
// arguments override earlier ones, so these override the defaults.
func WithRedisArgs(args ...string) RedisOption {
	return func(c *redisConfig) { c.extra = append(c.extra, args...) }
}

// withRedisBinary replaces the redis-server looked up on PATH; tests of this package
// use it to play a machine without Redis.
func withRedisBinary(path string) RedisOption {
	return func(c *redisConfig) { c.bin = path }
}

// Redis starts a private redis-server for t (see StartRedis) and returns its URL,
// redis://127.0.0.1:PORT/0.
func Redis(t testing.TB) string {
	t.Helper()
	return StartRedis(t).URL()
}

// StartRedis starts a private redis-server for t on a free 127.0.0.1 port and waits
// until it answers PING. The server is killed when t ends. If redis-server is not
// installed, the test fails under CI and is skipped elsewhere (see RequireService).
func StartRedis(t testing.TB, opts ...RedisOption) *RedisServer {
	t.Helper()
	cfg := redisConfig{bin: "redis-server", policy: "noeviction"}
	for _, opt := range opts {
		opt(&cfg)
	}
	bin, err := exec.LookPath(cfg.bin)
	RequireService(t, "redis-server", err)

	s := &RedisServer{t: t, bin: bin, dir: t.TempDir()}
	// Registered after TempDir, so it runs before the directory is removed.
	t.Cleanup(s.Stop)
	s.args = []string{
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
		"--daemonize", "no",
		// No persistence: each test starts empty and a restart starts empty again.
		"--save", "",
		"--appendonly", "no",
		"--maxmemory-policy", cfg.policy,
	}
	s.args = append(s.args, cfg.extra...)

	// A free port found by listening on :0 can be taken by someone else before
	// redis-server binds it; a few attempts make that race harmless.
	for attempt := 1; ; attempt++ {
		s.port = freePort(t)
		err := s.start()
		if err == nil {
			return s
		}
		if attempt == 3 {
			t.Fatalf("start redis-server: %v", err)
		}
	}
}

// URL returns the server's address as a go-redis URL for database 0.
func (s *RedisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Addr returns the server's host:port. It stays the same across Stop and Start.
func (s *RedisServer) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Stop kills the server at once, as a crash would, and waits for it to exit. Its data
// is lost. Stopping a stopped server does nothing.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
	if s.t.Failed() {
		s.t.Logf("redis-server %s log:\n%s", s.Addr(), s.logTail())
	}
}

// Start starts the stopped server again on the same address, empty, and waits until
// it answers PING. Starting a running server fails the test.
func (s *RedisServer) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart redis-server on %s: %v", s.Addr(), err)
	}
}

func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	args := append([]string{"--port", strconv.Itoa(s.port)}, s.args...)
	cmd := exec.Command(s.bin, args...) // #nosec G204 -- redis-server from PATH with the test's own arguments
	cmd.SysProcAttr = killWithParent()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	if err := waitForPing(s.Addr(), done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%w; log:\n%s", err, s.logTail())
	}
	s.cmd, s.done = cmd, done
	return nil
}

// waitForPing polls addr until it answers PING, the process exits (done is closed),
// or redisStartTimeout passes.
func waitForPing(addr string, done <-chan struct{}) error {
	deadline := time.Now().Add(redisStartTimeout)
	for {
		err := ping(addr)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return errors.New("redis-server exited before answering PING")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %s: %w", redisStartTimeout, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ping sends one RESP PING to addr and checks the answer, without a client library
// so that this package has no say in which one the code under test uses.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return fmt.Errorf("send PING: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read PING answer: %w", err)
	}
	if line != "+PONG\r\n" {
		// -LOADING and similar: not ready yet.
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// logTail returns the last lines of the server's log, for failure messages.
func (s *RedisServer) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

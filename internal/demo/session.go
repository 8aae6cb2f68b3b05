package demo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
)

// session is the testing.TB the test servers (internal/githubtest, awstest,
// gittest, registrytest, testenv, dockertest) are given when they run inside
// the demo program rather than a test. Those servers are the demo's GitHub and
// AWS on purpose: the demo shows Panda against exactly the rules its tests
// hold it to, so the servers are reused as they are, not copied.
//
// It implements what those packages call: Helper, Cleanup, TempDir, Logf,
// Errorf, Fatalf, Skipf, Failed and Name. Fatal and skip end the setup step
// that called them by panicking with an abort, which catch turns into an
// error; a skip means a service the demo needs is missing. Any other method
// reaches the nil embedded testing.TB and panics: a bug in the demo, found the
// first time it runs.
type session struct {
	testing.TB // nil; see above

	dir string    // removed by close, after the cleanups
	log io.Writer // servers' log lines

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	temps    int
}

// abort is what Fatalf and Skipf panic with.
type abort struct{ msg string }

// errUnavailable marks an abort by Skipf: a service the demo needs is missing.
var errUnavailable = errors.New("a service the demo needs is unavailable")

func newSession(log io.Writer) (*session, error) {
	dir, err := os.MkdirTemp("", "panda-demo-")
	if err != nil {
		return nil, fmt.Errorf("make the demo's directory: %w", err)
	}
	return &session{dir: dir, log: log}, nil
}

// catch runs f and returns the abort it ended with, if any, as an error.
func (s *session) catch(f func()) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		a, ok := r.(abort)
		if !ok {
			panic(r)
		}
		err = errors.New(a.msg)
	}()
	f()
	return nil
}

// close runs the cleanups, last registered first, as testing does, then
// removes the session's directory.
func (s *session) close() {
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			break
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		f()
	}
	_ = os.RemoveAll(s.dir)
}

func (s *session) Helper()      {}
func (s *session) Name() string { return "panda-demo" }

func (s *session) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// TempDir returns a new directory under the session's, removed by close.
func (s *session) TempDir() string {
	s.mu.Lock()
	s.temps++
	n := s.temps
	s.mu.Unlock()
	dir := fmt.Sprintf("%s/tmp%03d", s.dir, n)
	if err := os.Mkdir(dir, 0o700); err != nil {
		s.Fatalf("make a temporary directory: %v", err)
	}
	return dir
}

func (s *session) Logf(format string, args ...any) {
	fmt.Fprintf(s.log, format+"\n", args...)
}

func (s *session) Log(args ...any) { s.Logf("%s", fmt.Sprint(args...)) }

func (s *session) Errorf(format string, args ...any) {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
	s.Logf("error: "+format, args...)
}

func (s *session) Error(args ...any) { s.Errorf("%s", fmt.Sprint(args...)) }

func (s *session) Fatalf(format string, args ...any) {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
	panic(abort{msg: fmt.Sprintf(format, args...)})
}

func (s *session) Fatal(args ...any) { s.Fatalf("%s", fmt.Sprint(args...)) }

func (s *session) Skipf(format string, args ...any) {
	panic(abort{msg: errUnavailable.Error() + ": " + fmt.Sprintf(format, args...)})
}

func (s *session) Skip(args ...any) { s.Skipf("%s", fmt.Sprint(args...)) }

func (s *session) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

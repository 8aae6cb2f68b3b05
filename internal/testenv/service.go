// Package testenv gives tests the real services Panda runs against, and one rule for
// when such a service is missing: under CI it is a failure, elsewhere a skip.
//
// The services themselves are installed and started by scripts/test.sh; the helpers
// here only start private, per-test instances (see StartRedis) or check what is there.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// InCI reports whether the tests run under CI, that is whether the CI environment
// variable holds a true value ("true", "1", ...). Under CI a missing service is a
// failure, never a skip: a green run must mean the tests ran.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// RequireService is the shared rule for a service a test needs. It does nothing when
// err is nil. Otherwise it fails the test under CI (see InCI) and skips it elsewhere,
// naming the service and err in either case. Call it from the test's goroutine: like
// t.Fatal it stops the test.
func RequireService(t testing.TB, name string, err error) {
	t.Helper()
	requireService(t, name, err, InCI())
}

func requireService(t testing.TB, name string, err error, ci bool) {
	t.Helper()
	switch {
	case err == nil:
	case ci:
		t.Fatalf("%s is required under CI but unavailable: %v (bash scripts/test.sh installs and starts it)", name, err)
	default:
		t.Skipf("skipping: %s unavailable: %v (with CI=true this fails; bash scripts/test.sh installs and starts it)", name, err)
	}
}

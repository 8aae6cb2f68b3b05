// Package retry decides how long a failed task waits before its next attempt.
//
// A provider that names a wait (GitHub's rate limits, AWS throttling) surfaces
// it as a *WaitError anywhere in the error chain, where the error arises.
// Delay, Asynq's RetryDelayFunc, honours such a wait; every other error backs
// off exponentially with full jitter. Classifiers adapt provider error types
// that cannot carry a *WaitError themselves (see DelayFunc).
package retry

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

const (
	// MaxWait bounds an honoured wait: GitHub's primary rate limit resets
	// within the hour, and a longer wait is more likely a clock gone wrong
	// than an answer worth a task sitting idle for.
	MaxWait = time.Hour
	// maxJitter bounds the jitter added to an honoured wait.
	maxJitter = 30 * time.Second
	// minBackoff is the floor of an unnamed backoff, so that a retry never
	// hammers a service that just failed.
	minBackoff = time.Second
	// maxBackoff bounds an unnamed backoff.
	maxBackoff = 5 * time.Minute
)

// WaitError is an error whose source asked for a wait before the next try.
type WaitError struct {
	// Wait is the least time to wait. Zero or negative means "now".
	Wait time.Duration
	// Grow doubles Wait with each retry the task has had: for answers that
	// name no exact wait, which GitHub asks to meet with "an exponentially
	// increasing amount of time between retries".
	Grow bool
	// Reason names what asked for the wait, such as "GitHub primary rate limit".
	Reason string
	// Err is the cause, for logs. May be nil.
	Err error
}

// After returns a *WaitError asking to wait exactly wait (plus jitter).
func After(wait time.Duration, reason string, err error) error {
	return &WaitError{Wait: wait, Reason: reason, Err: err}
}

// AtLeast returns a *WaitError asking to wait floor on the first retry and
// twice as long on each retry after it.
func AtLeast(floor time.Duration, reason string, err error) error {
	return &WaitError{Wait: floor, Grow: true, Reason: reason, Err: err}
}

func (e *WaitError) Error() string {
	how := "retry in"
	if e.Grow {
		how = "retry in at least"
	}
	msg := fmt.Sprintf("%s: %s %v", e.Reason, how, max(e.Wait, 0).Round(time.Second))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *WaitError) Unwrap() error { return e.Err }

// Delay is an asynq.RetryDelayFunc: n is the number of retries the task has
// had so far (0 before the first). It honours the first *WaitError in err's
// chain (at most MaxWait plus a little jitter, never less than asked), and
// otherwise returns Backoff(n).
func Delay(n int, err error, _ *asynq.Task) time.Duration {
	var w *WaitError
	if errors.As(err, &w) {
		return w.delay(n)
	}
	return Backoff(n)
}

// A Classifier finds the wait in a provider's own error types, for errors
// that arise where no *WaitError can be made (a client library refusing a
// call locally, say). It returns nil for errors it does not know.
type Classifier func(err error) *WaitError

// DelayFunc returns an asynq.RetryDelayFunc like Delay that also asks each
// classifier, in order, when err holds no *WaitError.
func DelayFunc(classifiers ...Classifier) func(n int, err error, t *asynq.Task) time.Duration {
	return func(n int, err error, t *asynq.Task) time.Duration {
		var w *WaitError
		if errors.As(err, &w) {
			return w.delay(n)
		}
		for _, c := range classifiers {
			if w := c(err); w != nil {
				return w.delay(n)
			}
		}
		return Backoff(n)
	}
}

// delay is e's wait for the task's n-th retry: grown if asked, capped at
// MaxWait, plus up to a tenth of it (at most 30 s) of jitter so that the
// workers a limit stopped together do not all come back at its reset.
func (e *WaitError) delay(n int) time.Duration {
	d := max(e.Wait, 0)
	if e.Grow {
		d = grow(d, n)
	}
	d = min(d, MaxWait)
	return d + rand.N(min(d/10, maxJitter)+1) // #nosec G404 -- jitter needs no unpredictability
}

// Backoff returns the n-th retry's wait when nothing named one: full jitter
// ("Exponential Backoff And Jitter", AWS Architecture Blog) over
// [0, min(5 min, 1 s·2^n)), above a one-second floor.
func Backoff(n int) time.Duration {
	ceiling := min(grow(minBackoff, n), maxBackoff)
	return minBackoff + rand.N(ceiling) // #nosec G404 -- jitter needs no unpredictability
}

// grow returns d·2^n, saturating at MaxWait instead of overflowing.
func grow(d time.Duration, n int) time.Duration {
	for range max(n, 0) {
		if d >= MaxWait {
			return MaxWait
		}
		d *= 2
	}
	return d
}

package retry_test

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/pandadeploy/panda/retry"
)

func TestDelay(t *testing.T) {
	t.Parallel()
	wait := func(d time.Duration) error { return retry.After(d, "GitHub primary rate limit", errors.New("403")) }
	tests := []struct {
		name     string
		n        int
		err      error
		min, max time.Duration
	}{
		{name: "named_wait", err: wait(40 * time.Minute), min: 40 * time.Minute, max: 40*time.Minute + 30*time.Second},
		{name: "named_wait_ignores_attempts", n: 6, err: wait(90 * time.Second), min: 90 * time.Second, max: 99 * time.Second},
		{name: "wrapped_by_fmt", err: fmt.Errorf("create check run: %w", wait(2*time.Minute)), min: 2 * time.Minute, max: 2*time.Minute + 12*time.Second},
		{name: "wrapped_by_http_client", err: fmt.Errorf("task: %w", &url.Error{Op: "Post", URL: "https://api.github.com/x", Err: wait(time.Minute)}), min: time.Minute, max: 66 * time.Second},
		{name: "joined", err: errors.Join(errors.New("other"), wait(5*time.Minute)), min: 5 * time.Minute, max: 5*time.Minute + 30*time.Second},
		{name: "capped_at_an_hour", err: wait(5 * time.Hour), min: time.Hour, max: time.Hour + 30*time.Second},
		{name: "reset_passed", err: wait(-time.Minute), min: 0, max: 0},
		{name: "growing_first_retry", err: retry.AtLeast(time.Minute, "GitHub secondary rate limit", nil), min: time.Minute, max: 66 * time.Second},
		{name: "growing_third_retry", n: 2, err: retry.AtLeast(time.Minute, "GitHub secondary rate limit", nil), min: 4 * time.Minute, max: 4*time.Minute + 24*time.Second},
		{name: "growing_capped", n: 40, err: retry.AtLeast(time.Minute, "GitHub secondary rate limit", nil), min: time.Hour, max: time.Hour + 30*time.Second},
		{name: "plain_error_first_retry", err: errors.New("connection refused"), min: time.Second, max: 2 * time.Second},
		{name: "plain_error_fourth_retry", n: 3, err: errors.New("502"), min: time.Second, max: 9 * time.Second},
		{name: "plain_error_capped", n: 60, err: errors.New("502"), min: time.Second, max: 5*time.Minute + time.Second},
		{name: "nil_error", err: nil, min: time.Second, max: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 200 {
				if d := retry.Delay(tt.n, tt.err, nil); d < tt.min || d > tt.max {
					t.Fatalf("Delay(%d, %v) = %v, want within [%v, %v]", tt.n, tt.err, d, tt.min, tt.max)
				}
			}
		})
	}
}

// TestDelayJitters checks that workers stopped by one limit do not all come
// back at the same instant, and that plain backoff spreads over its range.
func TestDelayJitters(t *testing.T) {
	t.Parallel()
	for name, err := range map[string]error{
		"named_wait": retry.After(10*time.Minute, "GitHub primary rate limit", nil),
		"backoff":    errors.New("502"),
	} {
		seen := map[time.Duration]bool{}
		for range 50 {
			seen[retry.Delay(4, err, nil)] = true
		}
		if len(seen) < 10 {
			t.Errorf("%s: 50 delays took only %d values", name, len(seen))
		}
	}
}

func TestDelayFuncAsksClassifiers(t *testing.T) {
	t.Parallel()
	errLimited := errors.New("limited by a library")
	classify := func(err error) *retry.WaitError {
		if errors.Is(err, errLimited) {
			return &retry.WaitError{Wait: 20 * time.Minute, Reason: "library"}
		}
		return nil
	}
	delay := retry.DelayFunc(classify)
	if d := delay(0, fmt.Errorf("x: %w", errLimited), nil); d < 20*time.Minute || d > 20*time.Minute+30*time.Second {
		t.Errorf("classified delay = %v, want about 20m", d)
	}
	// A *WaitError in the chain wins over a classifier.
	if d := delay(0, errors.Join(errLimited, retry.After(3*time.Minute, "own", nil)), nil); d < 3*time.Minute || d > 3*time.Minute+18*time.Second {
		t.Errorf("delay with a WaitError = %v, want about 3m", d)
	}
	if d := delay(0, errors.New("other"), nil); d > 2*time.Second {
		t.Errorf("unclassified delay = %v, want backoff", d)
	}
}

func TestWaitErrorMessageAndChain(t *testing.T) {
	t.Parallel()
	cause := errors.New("403 You have exceeded a secondary rate limit")
	err := retry.AtLeast(time.Minute, "GitHub secondary rate limit", cause)
	if got, want := err.Error(), "GitHub secondary rate limit: retry in at least 1m0s: 403 You have exceeded a secondary rate limit"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is not in the chain")
	}
	if got := retry.After(90*time.Second, "AWS throttling", nil).Error(); got != "AWS throttling: retry in 1m30s" {
		t.Errorf("Error() = %q", got)
	}
}

func TestFromAWS(t *testing.T) {
	t.Parallel()
	// The shapes are those the SDK returns once its retries are exhausted: an
	// OperationError around the retryer's MaxAttemptsError around the API error.
	sdk := func(code string) error {
		return &smithy.OperationError{ServiceID: "SFN", OperationName: "StartExecution",
			Err: &awsretry.MaxAttemptsError{Attempt: 3, Err: &smithy.GenericAPIError{Code: code, Message: "Rate exceeded"}}}
	}
	tests := []struct {
		name     string
		err      error
		wantWait bool
	}{
		{name: "throttling_exception", err: sdk("ThrottlingException"), wantWait: true},
		{name: "sts_throttling", err: sdk("Throttling"), wantWait: true},
		{name: "too_many_requests", err: sdk("TooManyRequestsException"), wantWait: true},
		{name: "ec2_request_limit", err: sdk("RequestLimitExceeded"), wantWait: true},
		{name: "access_denied", err: sdk("AccessDeniedException")},
		{name: "not_an_api_error", err: errors.New("dial tcp: connection refused")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := retry.FromAWS(tt.err)
			var w *retry.WaitError
			if errors.As(got, &w) != tt.wantWait {
				t.Fatalf("FromAWS(%v) = %v, want a wait: %v", tt.err, got, tt.wantWait)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("FromAWS lost the cause: %v", got)
			}
			var api smithy.APIError
			if !errors.As(got, &api) && tt.wantWait {
				t.Errorf("the API error is not in the chain of %v", got)
			}
			if tt.wantWait && (!w.Grow || w.Wait < 10*time.Second) {
				t.Errorf("wait = %+v, want a growing wait of at least 10s", w)
			}
		})
	}
	if retry.FromAWS(nil) != nil {
		t.Error("FromAWS(nil) is not nil")
	}
}

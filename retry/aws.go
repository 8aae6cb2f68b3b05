package retry

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
)

// awsThrottleFloor is the first task-level wait after AWS throttling. The
// SDK's standard retryer has already spent its attempts (3, with up to 20 s
// of backoff each) when the error reaches Panda, so the next try should come
// well after that, and later ones later still.
const awsThrottleFloor = 10 * time.Second

// FromAWS returns err as a growing *WaitError when it is AWS throttling, and
// err unchanged otherwise (nil stays nil). It is meant for errors an AWS SDK
// call returned, that is once the SDK's own retries are exhausted.
//
// Throttling is what the SDK itself treats as throttling: its
// DefaultThrottles, which are the API error codes in DefaultThrottleErrorCodes
// (ThrottlingException, TooManyRequestsException, RequestLimitExceeded,
// SlowDown, …) and an HTTP 429 that did not deserialize to a modeled error
// (aws-sdk-go-v2 aws/retry/standard.go, throttle_error.go).
func FromAWS(err error) error {
	if err == nil {
		return nil
	}
	if awsretry.IsErrorThrottles(awsretry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		return err
	}
	return AtLeast(awsThrottleFloor, "AWS throttling", err)
}

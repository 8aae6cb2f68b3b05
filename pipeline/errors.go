package pipeline

import (
	"errors"
	"fmt"
)

// Error is a stage failure classified for the job boundary.
//
// Msg is written for the person who pushed: it is shown in check runs, events and
// API answers, so it must never carry a token, a credential or a request id.
// Err is the wrapped cause for logs. Permanent errors (the user's input is wrong:
// bad ref, missing Dockerfile, failing RUN step, unknown state machine) are not
// retried; everything else (network, 5xx, throttling, daemon hiccups) is.
type Error struct {
	Msg       string
	Permanent bool
	Err       error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// UserError returns a permanent error whose message is shown to users as written.
// cause may be nil.
func UserError(cause error, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Permanent: true, Err: cause}
}

// TransientError returns a retryable error with a user-facing message.
// cause may be nil.
func TransientError(cause error, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Err: cause}
}

// IsPermanent reports whether err (or anything it wraps) is a permanent *Error.
// Unclassified errors are transient: retrying a user error costs a little time,
// while not retrying an outage loses a deployment.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// UserMessage returns the message safe to show a user for err: the Msg of the
// outermost *Error it wraps, or fallback when there is none.
func UserMessage(err error, fallback string) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return fallback
}

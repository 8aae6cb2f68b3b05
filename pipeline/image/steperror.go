package image

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/pandadeploy/panda/pipeline"
)

// StepError says which Dockerfile instruction failed and why. Build returns it as
// is: it wraps a permanent pipeline.Error carrying the same text, so
// pipeline.IsPermanent and pipeline.UserMessage work on it, and errors.As finds it
// for annotating the line.
type StepError struct {
	// Dockerfile is the Dockerfile's path relative to the build directory.
	Dockerfile string
	// Line is the 1-based line where the failing instruction starts, or 0 when the
	// engine's output did not say which one failed.
	Line int
	// Instruction is the failing instruction as the builder printed it.
	Instruction string
	// Message is the engine's explanation, e.g. "The command '/bin/sh -c make'
	// returned a non-zero code: 2".
	Message string
}

// Error returns the message shown to users, naming the line when it is known.
func (e *StepError) Error() string {
	if e.Line == 0 {
		return "build failed: " + e.Message
	}
	return fmt.Sprintf("build failed at %s line %d (%s): %s", e.Dockerfile, e.Line, shorten(e.Instruction, 80), e.Message)
}

// Unwrap classifies a failing step as the user's error: building again fails again.
func (e *StepError) Unwrap() error {
	return pipeline.UserError(nil, "%s", e.Error())
}

// engineFaults are fragments of messages that mean the engine itself is failing,
// not the Dockerfile: retrying later, perhaps on another worker, can succeed.
var engineFaults = []string{
	"no space left on device",
	"input/output error",
	"too many open files",
	"read-only file system",
	"cannot allocate memory",
}

// classify turns a failed build into the error Build returns.
func (r *buildRun) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("build: %w", ctx.Err())
	}
	var report *engineReport
	switch {
	case errors.As(err, &report):
		for _, fault := range engineFaults {
			if strings.Contains(strings.ToLower(report.Message), fault) {
				return pipeline.TransientError(nil, "Docker engine unavailable: %s", report.Message)
			}
		}
		return r.stepFailure(report.Message)
	case cerrdefs.IsInvalidArgument(err):
		// The engine refused the request before building: a Dockerfile it cannot parse.
		return r.stepFailure(strings.TrimPrefix(err.Error(), "Error response from daemon: "))
	default:
		return pipeline.TransientError(err, "Docker engine unavailable")
	}
}

// lineInMessage finds the line a parse error or a BuildKit-style error names.
var lineInMessage = regexp.MustCompile(`(?i)(?:Dockerfile:|line )(\d+)`)

// stepFailure blames the instruction the log was at when the build failed or,
// before the first step, the line the message names.
func (r *buildRun) stepFailure(msg string) error {
	se := &StepError{Dockerfile: r.dockerfile, Message: msg}
	switch m := lineInMessage.FindStringSubmatch(msg); {
	case r.step > 0 && r.step <= len(r.instructions):
		se.Line = r.instructions[r.step-1].Line
		se.Instruction = r.stepText
	case m != nil:
		se.Line, _ = strconv.Atoi(m[1])
		se.Instruction = r.instructionAt(se.Line)
	}
	return se
}

// instructionAt returns the text of the instruction starting at line, if any.
func (r *buildRun) instructionAt(line int) string {
	for _, in := range r.instructions {
		if in.Line == line {
			return in.Text
		}
	}
	return ""
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	runes := []rune(s)
	if len(runes) <= n {
		return s
	}
	return string(runes[:n-1]) + "…"
}

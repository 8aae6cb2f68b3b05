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

// classify turns a failed engine build into the error Build returns.
func (r *buildRun) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("build: %w", ctx.Err())
	}
	var report *engineReport
	switch {
	case errors.As(err, &report):
		if isEngineFault(report.Message) {
			return pipeline.TransientError(nil, "Docker engine unavailable: %s", report.Message)
		}
		return r.stepFailure(report.Message, 0)
	case cerrdefs.IsInvalidArgument(err):
		// The engine refused the request before building: a Dockerfile it cannot parse.
		return r.stepFailure(strings.TrimPrefix(err.Error(), "Error response from daemon: "), 0)
	default:
		return pipeline.TransientError(err, "Docker engine unavailable")
	}
}

// isEngineFault reports whether a builder's message means the machine is failing.
func isEngineFault(msg string) bool {
	lower := strings.ToLower(msg)
	for _, fault := range engineFaults {
		if strings.Contains(lower, fault) {
			return true
		}
	}
	return false
}

// lineInMessage finds the line a parse error or a BuildKit-style error names.
var lineInMessage = regexp.MustCompile(`(?i)(?:Dockerfile:|line )(\d+)`)

// stepFailure blames, in order of certainty: the line BuildKit's source map gave
// (sourceLine, 0 when there is none), the instruction of the vertex that failed,
// or the line the message names.
func (p *prepared) stepFailure(msg string, sourceLine int) *StepError {
	se := &StepError{Dockerfile: p.dockerfile, Message: msg}
	if sourceLine > 0 {
		se.Line = sourceLine
		se.Instruction = p.instructionAt(sourceLine)
		return se
	}
	if p.progress != nil {
		if name, vmsg := p.progress.failedStep(); name != "" {
			if in, ok := p.matchVertex(name); ok {
				se.Line, se.Instruction = in.Line, in.Text
			}
			if vmsg != "" {
				se.Message = vmsg
			}
			if se.Line > 0 {
				return se
			}
		}
	}
	if m := lineInMessage.FindStringSubmatch(msg); m != nil {
		se.Line, _ = strconv.Atoi(m[1])
		se.Instruction = p.instructionAt(se.Line)
	}
	return se
}

// vertexName is how BuildKit's Dockerfile frontend names a step's vertex:
// "[linux/arm64 build 2/4] RUN make", the platform and the stage being optional
// (dockerfile2llb's prefixCommand).
var vertexName = regexp.MustCompile(`^\[(?:[a-z0-9]+/[a-z0-9/]+ )?(?:(\S+) )?\s*\d+/\d+\] (.+)$`)

// matchVertex finds the instruction a vertex ran. The vertex carries the
// instruction's text after variable expansion and without the stage's position
// in the file, so the match is by stage and then by text: exactly, else the
// instruction of the same kind whose text shares the longest prefix with it.
func (p *prepared) matchVertex(name string) (instruction, bool) {
	m := vertexName.FindStringSubmatch(name)
	if m == nil {
		return instruction{}, false
	}
	stage, text := strings.ToLower(m[1]), strings.Join(strings.Fields(m[2]), " ")
	text = strings.TrimPrefix(text, "ONBUILD ")
	var best instruction
	bestLen := -1
	for _, in := range p.instructions {
		if !inStage(in, stage) {
			continue
		}
		candidate := strings.Join(strings.Fields(in.Text), " ")
		if strings.EqualFold(candidate, text) {
			return in, true
		}
		kind, _, _ := strings.Cut(text, " ")
		ckind, _, _ := strings.Cut(candidate, " ")
		if !strings.EqualFold(kind, ckind) {
			continue
		}
		if n := commonPrefix(strings.ToLower(candidate), strings.ToLower(text)); n > bestLen {
			best, bestLen = in, n
		}
	}
	return best, bestLen >= 0
}

// inStage reports whether in belongs to the stage a vertex named: "" for a
// one-stage file, "stage-N" for an unnamed stage, else the stage's AS name.
func inStage(in instruction, stage string) bool {
	switch {
	case stage == "":
		return true
	case strings.HasPrefix(stage, "stage-"):
		n, err := strconv.Atoi(strings.TrimPrefix(stage, "stage-"))
		return err == nil && in.Stage == n
	default:
		return in.StageName == stage
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// instructionAt returns the text of the instruction starting at line, if any.
func (p *prepared) instructionAt(line int) string {
	for _, in := range p.instructions {
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

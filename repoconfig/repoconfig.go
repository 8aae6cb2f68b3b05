// Package repoconfig reads .panda.yml, the file at a repository's root that
// names the environments Panda deploys it to.
//
//	environments:
//	  production:
//	    branch: main
//	    region: ap-northeast-2
//	    state_machine_arn: arn:aws:states:ap-northeast-2:123456789012:stateMachine:panda-bluegreen
//	    cluster: production-cluster
//	    service: myapp-service
//	    task_family: myapp-task
//	    container_port: 8080
//
// Parse is a pure function: the caller fetches the file (from the checkout or
// the contents API) and gets either a validated Config or a permanent error
// that names the line and the field that are wrong.
package repoconfig

import (
	"fmt"
	"sort"

	"github.com/pandadeploy/panda/freeze"
	"github.com/pandadeploy/panda/pipeline"
)

// FileName is the configuration file's name at the repository root.
const FileName = ".panda.yml"

// MaxSize is the largest .panda.yml Parse accepts, in bytes.
const MaxSize = 64 << 10

// Trigger says how a deployment's Step Functions execution starts.
type Trigger string

const (
	// TriggerStepFunctions: the worker calls StartExecution itself (the default).
	TriggerStepFunctions Trigger = "stepfunctions"
	// TriggerEventBridge: an EventBridge rule on the ECR push starts the state
	// machine; the worker finds the execution whose input names its image tag.
	TriggerEventBridge Trigger = "eventbridge"
)

// Config is a parsed, validated .panda.yml.
type Config struct {
	// Environments holds at least one environment, sorted by name.
	Environments []Env
}

// Env is one environment of .panda.yml. Parse fills every default, so the
// zero values below never reach a caller of a parsed Config.
type Env struct {
	// Name is the key under environments.
	Name string
	// Branch is the branch whose pushes deploy here; empty means only a
	// /deploy comment does.
	Branch string
	// Region is the AWS region of the cluster and the state machine.
	Region string
	// AWS names a stored AWS connection; empty means the worker's own credentials.
	AWS string
	// ECRRepository is the ECR repository; empty means "{owner}-{repo}".
	ECRRepository   string
	StateMachineARN string
	Cluster         string
	Service         string
	TaskFamily      string
	ContainerPort   int
	// DesiredCount is the number of tasks. 0 (the file omits it) keeps the
	// service's current count: a deployment that does not name a count must
	// not scale a 3-task production service down to one.
	DesiredCount int
	// Dockerfile is a clean repository-relative path; empty means the first of
	// Dockerfile, docker/Dockerfile, deployment/Dockerfile.
	Dockerfile string
	// Trigger is TriggerStepFunctions when the file omits it.
	Trigger Trigger
	// EventsRoleARN is the role EventBridge starts the state machine as;
	// required with TriggerEventBridge.
	EventsRoleARN string
	BuildArgs     map[string]string
	// Target is the Dockerfile stage to build; empty means the last one.
	Target string
	// Platform is linux/amd64 or linux/arm64; empty means the builder's own.
	Platform string
	// BuildSecrets are names of secrets the build may mount with
	// RUN --mount=type=secret,id=NAME; their values live outside the repository.
	BuildSecrets []string
	// Default marks the environment "/deploy" without a name uses. It is true
	// for the only environment of a file that names one.
	Default bool
	// Submodules makes the clone check out submodules too (false by default).
	Submodules bool
	// Scan, when set, gates the rollout on ECR's scan of the image.
	Scan *Scan
	// Freeze lists the windows (each checked by freeze.Compile) in which a
	// deployment does not start; FreezePolicy says whether it then waits
	// (FreezeWait, when empty) or is refused (FreezeRefuse).
	Freeze       []freeze.Window
	FreezePolicy string
	// HealthCheck, if set, probes the new revision on the test listener
	// before production traffic moves to it.
	HealthCheck *HealthCheck
	// Approval, if set, holds the new revision on the test listener until
	// an allowed person approves it.
	Approval *Approval
}

// ForBranch returns the environments a push to branch deploys, sorted by name.
func (c Config) ForBranch(branch string) []Env {
	var envs []Env
	for _, e := range c.Environments {
		if e.Branch != "" && e.Branch == branch {
			envs = append(envs, e)
		}
	}
	return envs
}

// Env returns the environment called name.
func (c Config) Env(name string) (Env, bool) {
	for _, e := range c.Environments {
		if e.Name == name {
			return e, true
		}
	}
	return Env{}, false
}

// Default returns the environment "/deploy" without a name deploys to: the
// one marked default, or the only one. It returns false when there is none.
func (c Config) Default() (Env, bool) {
	for _, e := range c.Environments {
		if e.Default {
			return e, true
		}
	}
	return Env{}, false
}

// Names returns the environment names, sorted.
func (c Config) Names() []string {
	names := make([]string, len(c.Environments))
	for i, e := range c.Environments {
		names[i] = e.Name
	}
	sort.Strings(names)
	return names
}

// FieldError is the cause of every error Parse returns: where in the file the
// problem is. Checks use Line for an annotation. It wraps a permanent
// *pipeline.Error whose message is Error().
type FieldError struct {
	// Line is 1-based; 0 when the problem is the file as a whole.
	Line int
	// Field is the dotted path, like "environments.production.container_port";
	// empty for the file as a whole.
	Field string
	// Problem says what is wrong, for a person.
	Problem string
	err     error
}

func newFieldError(line int, field, format string, args ...any) *FieldError {
	fe := &FieldError{Line: line, Field: field, Problem: fmt.Sprintf(format, args...)}
	msg := FileName
	if line > 0 {
		msg += fmt.Sprintf(" line %d", line)
	}
	if field != "" {
		msg += ": " + field
	}
	fe.err = pipeline.UserError(nil, "%s: %s", msg, fe.Problem)
	return fe
}

// TooLarge returns the error for a .panda.yml too large for GitHub to serve
// through its contents API (over 1 MB): like every FieldError it is permanent
// and shown to the user, since asking GitHub again gets the same refusal.
func TooLarge() *FieldError {
	// Worded as Parse words a file over MaxSize, which this one is too.
	return newFieldError(0, "", "is larger than %d KiB (over 1 MB, more than GitHub's contents API serves)", MaxSize>>10)
}

func (e *FieldError) Error() string { return e.err.Error() }

// Unwrap returns the permanent *pipeline.Error, so pipeline.IsPermanent and
// pipeline.UserMessage see it.
func (e *FieldError) Unwrap() error { return e.err }

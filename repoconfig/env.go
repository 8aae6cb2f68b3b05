package repoconfig

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pandadeploy/panda/pipeline/source"
)

var (
	envNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	// arn:partition:states:region:account:stateMachine:name; Step Functions
	// names are 1 to 80 characters.
	stateMachineRE = regexp.MustCompile(`^arn:aws[a-z-]*:states:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$`)
	// ECR's own rule, lower case, 2 to 256 characters.
	ecrRE       = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
	ecsNameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	awsConnRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	buildArgKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// field parses one key of an environment into env.
type field func(env *Env, n *yaml.Node, path string) error

// fields lists every key an environment may have.
var fields = map[string]field{
	"branch":            stringField(func(e *Env) *string { return &e.Branch }, checkBranch),
	"region":            stringField(func(e *Env) *string { return &e.Region }, matches(regionRE, "is not an AWS region like ap-northeast-2")),
	"aws":               stringField(func(e *Env) *string { return &e.AWS }, matches(awsConnRE, "is not a connection name: letters, digits, ., - and _, up to 64")),
	"ecr_repository":    stringField(func(e *Env) *string { return &e.ECRRepository }, checkECR),
	"state_machine_arn": stringField(func(e *Env) *string { return &e.StateMachineARN }, matches(stateMachineRE, "is not a state machine ARN like arn:aws:states:REGION:123456789012:stateMachine:NAME")),
	"cluster":           stringField(func(e *Env) *string { return &e.Cluster }, matches(ecsNameRE, ecsNameRule)),
	"service":           stringField(func(e *Env) *string { return &e.Service }, matches(ecsNameRE, ecsNameRule)),
	"task_family":       stringField(func(e *Env) *string { return &e.TaskFamily }, matches(ecsNameRE, ecsNameRule)),
	"dockerfile":        stringField(func(e *Env) *string { return &e.Dockerfile }, nil),
	"trigger":           stringField(func(e *Env) *string { return (*string)(&e.Trigger) }, checkTrigger),
	"events_role_arn":   stringField(func(e *Env) *string { return &e.EventsRoleARN }, matches(roleRE, "is not an IAM role ARN like arn:aws:iam::123456789012:role/NAME")),
	"container_port":    intField(func(e *Env) *int { return &e.ContainerPort }, 1, 65535),
	"desired_count":     intField(func(e *Env) *int { return &e.DesiredCount }, 0, 100),
	"default":           boolField(func(e *Env) *bool { return &e.Default }),
	"submodules":        boolField(func(e *Env) *bool { return &e.Submodules }),
	"build_args":        parseBuildArgs,
	"health_check":      parseHealthCheck,
}

var roleRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)

const ecsNameRule = "must be 1 to 255 letters, digits, - and _"

var required = []string{"region", "state_machine_arn", "cluster", "service", "task_family", "container_port"}

func parseEnv(key, node *yaml.Node, envPath string) (Env, error) {
	if node.Kind != yaml.MappingNode {
		return Env{}, newFieldError(node.Line, envPath, "must be a mapping of settings, not %s", describe(node))
	}
	env := Env{Name: key.Value, Trigger: TriggerStepFunctions}
	set := make(map[string]bool)
	err := eachField(node, envPath, func(k, v *yaml.Node, p string) error {
		f, ok := fields[k.Value]
		if !ok {
			return unknownField(k, p, fieldNames())
		}
		set[k.Value] = true
		return f(&env, v, p)
	})
	if err != nil {
		return Env{}, err
	}
	var missing []string
	for _, name := range required {
		if !set[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return Env{}, newFieldError(key.Line, envPath, "is missing required settings: %s", strings.Join(missing, ", "))
	}
	if env.Trigger == TriggerEventBridge && env.EventsRoleARN == "" {
		return Env{}, newFieldError(valueLine(node, "trigger"), envPath+".trigger",
			"eventbridge needs events_role_arn, the role EventBridge starts the state machine as")
	}
	if err := checkDockerfile(&env, node, envPath); err != nil {
		return Env{}, err
	}
	if r := stateMachineRE.FindStringSubmatch(env.StateMachineARN); r[1] != env.Region {
		return Env{}, newFieldError(valueLine(node, "state_machine_arn"), envPath+".state_machine_arn",
			"is in region %s, but region is %s", r[1], env.Region)
	}
	return env, nil
}

func fieldNames() []string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// valueLine returns the line of key's value in mapping node.
func valueLine(node *yaml.Node, key string) int {
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1].Line
		}
	}
	return node.Line
}

// stringField accepts a scalar (quoted or not: "branch: 2024" is the string
// "2024") and checks it with check, which returns a problem or "".
func stringField(dst func(*Env) *string, check func(string) string) field {
	return func(env *Env, n *yaml.Node, p string) error {
		if n.Kind != yaml.ScalarNode || !(n.Tag == "!!str" || n.Tag == "!!int" || n.Tag == "!!float") {
			return newFieldError(n.Line, p, "must be a string, not %s", describe(n))
		}
		if n.Value == "" {
			return newFieldError(n.Line, p, "must not be empty")
		}
		if check != nil {
			if problem := check(n.Value); problem != "" {
				return newFieldError(n.Line, p, "%s", problem)
			}
		}
		*dst(env) = n.Value
		return nil
	}
}

func intField(dst func(*Env) *int, lo, hi int) field {
	return func(env *Env, n *yaml.Node, p string) error {
		var v int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil || v < int64(lo) || v > int64(hi) {
			return newFieldError(n.Line, p, "must be a whole number from %d to %d", lo, hi)
		}
		*dst(env) = int(v)
		return nil
	}
}

func boolField(dst func(*Env) *bool) field {
	return func(env *Env, n *yaml.Node, p string) error {
		var v bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
			return newFieldError(n.Line, p, "must be true or false, not %s", describe(n))
		}
		*dst(env) = v
		return nil
	}
}

func parseBuildArgs(env *Env, n *yaml.Node, p string) error {
	if n.Kind != yaml.MappingNode {
		return newFieldError(n.Line, p, "must be a mapping of NAME: value, not %s", describe(n))
	}
	env.BuildArgs = make(map[string]string, len(n.Content)/2)
	return eachField(n, p, func(k, v *yaml.Node, kp string) error {
		if !buildArgKey.MatchString(k.Value) {
			return newFieldError(k.Line, kp, "is not a valid build argument name (letters, digits and _, not starting with a digit)")
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return newFieldError(v.Line, kp, "must be a string, not %s", describe(v))
		}
		if strings.ContainsRune(v.Value, 0) {
			return newFieldError(v.Line, kp, "must not contain a NUL byte")
		}
		env.BuildArgs[k.Value] = v.Value
		return nil
	})
}

func matches(re *regexp.Regexp, problem string) func(string) string {
	return func(s string) string {
		if re.MatchString(s) {
			return ""
		}
		return problem
	}
}

func checkBranch(s string) string {
	if err := source.CheckBranch(s); err != nil {
		return fmt.Sprintf("is not a valid branch name: %v", err)
	}
	return ""
}

func checkECR(s string) string {
	if len(s) < 2 || len(s) > 256 || !ecrRE.MatchString(s) {
		return "is not an ECR repository name: 2 to 256 lower-case letters, digits and . _ - /"
	}
	return ""
}

func checkTrigger(s string) string {
	if s != string(TriggerStepFunctions) && s != string(TriggerEventBridge) {
		return fmt.Sprintf("must be %s or %s", TriggerStepFunctions, TriggerEventBridge)
	}
	return ""
}

// checkDockerfile normalizes env.Dockerfile ("./docker/Dockerfile" becomes
// "docker/Dockerfile") and refuses anything that is not a path inside the
// repository, so the build can never be pointed at the worker's own files.
// Symlinks are resolved at build time by source.SafePath.
func checkDockerfile(env *Env, node *yaml.Node, envPath string) error {
	raw := env.Dockerfile
	if raw == "" {
		return nil
	}
	clean := path.Clean(raw)
	problem := ""
	switch {
	case strings.ContainsRune(raw, 0) || strings.ContainsAny(raw, "\r\n"):
		problem = "must not contain NUL or line breaks"
	case strings.HasPrefix(raw, "/"):
		problem = "must be relative to the repository root, not absolute"
	case clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || hasDotDot(raw):
		problem = `must be a file inside the repository (no "..")`
	case strings.HasPrefix(clean, "-"):
		problem = `must not start with "-"`
	case len(raw) > 4096:
		problem = "is too long"
	}
	if problem != "" {
		return newFieldError(valueLine(node, "dockerfile"), envPath+".dockerfile", "%s", problem)
	}
	env.Dockerfile = clean
	return nil
}

func hasDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

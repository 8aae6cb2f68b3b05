package repoconfig

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pandadeploy/panda/names"
)

// buildArgKey is the shell's rule for variable names, which Docker's ARG
// follows.
var buildArgKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// field parses one key of an environment into env.
type field func(env *Env, n *yaml.Node, path string) error

// fields lists every key an environment may have.
var fields = map[string]field{
	"branch":            stringField(func(e *Env) *string { return &e.Branch }, use(names.Branch)),
	"region":            stringField(func(e *Env) *string { return &e.Region }, use(names.Region)),
	"aws":               stringField(func(e *Env) *string { return &e.AWS }, use(names.Connection)),
	"ecr_repository":    stringField(func(e *Env) *string { return &e.ECRRepository }, use(names.ECRRepository)),
	"state_machine_arn": stringField(func(e *Env) *string { return &e.StateMachineARN }, use(func(s string) error { _, err := names.StateMachineARN(s); return err })),
	"cluster":           stringField(func(e *Env) *string { return &e.Cluster }, use(names.ECSName)),
	"service":           stringField(func(e *Env) *string { return &e.Service }, use(names.ECSName)),
	"task_family":       stringField(func(e *Env) *string { return &e.TaskFamily }, use(names.ECSName)),
	"dockerfile":        stringField(func(e *Env) *string { return &e.Dockerfile }, nil),
	"trigger":           stringField(func(e *Env) *string { return (*string)(&e.Trigger) }, checkTrigger),
	"events_role_arn":   stringField(func(e *Env) *string { return &e.EventsRoleARN }, use(func(s string) error { _, err := names.RoleARN(s); return err })),
	"container_port":    intField(func(e *Env) *int { return &e.ContainerPort }, 1, 65535),
	"desired_count":     intField(func(e *Env) *int { return &e.DesiredCount }, 0, 100),
	"default":           boolField(func(e *Env) *bool { return &e.Default }),
	"submodules":        boolField(func(e *Env) *bool { return &e.Submodules }),
	"build_args":        parseBuildArgs,
	// A stage name as the Dockerfile frontend accepts it after FROM ... AS.
	"target":        stringField(func(e *Env) *string { return &e.Target }, matches(targetRE, "is not a stage name: letters, digits, ., - and _, starting with a letter")),
	"platform":      stringField(func(e *Env) *string { return &e.Platform }, matches(platformRE, "must be linux/amd64 or linux/arm64")),
	"build_secrets": parseBuildSecrets,
	"scan":          parseScan,
	"freeze":        parseFreeze,
	"freeze_policy": stringField(func(e *Env) *string { return &e.FreezePolicy }, checkFreezePolicy),
	"health_check":  parseHealthCheck,
	"approval":      parseApproval,
}

var (
	targetRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,127}$`)
	platformRE = regexp.MustCompile(`^linux/(amd64|arm64)$`)
	// secretNameRE is what RUN --mount=type=secret,id=NAME can name unquoted.
	secretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)
)

// parseBuildSecrets reads a list of secret names; values are never in the file.
func parseBuildSecrets(env *Env, n *yaml.Node, p string) error {
	if n.Kind != yaml.SequenceNode {
		return newFieldError(n.Line, p, "must be a list of secret names, not %s", describe(n))
	}
	seen := map[string]bool{}
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", p, i)
		if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
			return newFieldError(item.Line, ip, "must be a secret name, not %s (values are never written in .panda.yml)", describe(item))
		}
		if !secretNameRE.MatchString(item.Value) {
			return newFieldError(item.Line, ip, "is not a secret name: letters, digits, ., - and _, not starting with a digit")
		}
		if seen[item.Value] {
			return newFieldError(item.Line, ip, "names %s twice", item.Value)
		}
		seen[item.Value] = true
		env.BuildSecrets = append(env.BuildSecrets, item.Value)
	}
	return nil
}

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
	if env.Scan != nil && env.Trigger == TriggerEventBridge {
		// The push itself starts an EventBridge rollout: nothing is left to gate.
		return Env{}, newFieldError(valueLine(node, "scan"), envPath+".scan",
			"cannot gate trigger eventbridge: the push starts the rollout before the scan is read")
	}
	if env.FreezePolicy != "" && env.Freeze == nil {
		return Env{}, newFieldError(valueLine(node, "freeze_policy"), envPath+".freeze_policy", "needs freeze windows to apply to")
	}
	if err := checkDockerfile(&env, node, envPath); err != nil {
		return Env{}, err
	}
	// Both were checked by their fields, so the ARNs parse.
	if arn, _ := names.StateMachineARN(env.StateMachineARN); arn.Region != env.Region {
		return Env{}, newFieldError(valueLine(node, "state_machine_arn"), envPath+".state_machine_arn",
			"is in region %s, but region is %s", arn.Region, env.Region)
	}
	if env.EventsRoleARN != "" {
		// EventBridge in one partition cannot assume a role of another.
		role, _ := names.RoleARN(env.EventsRoleARN)
		if p, _ := names.Partition(env.Region); role.Partition != p {
			return Env{}, newFieldError(valueLine(node, "events_role_arn"), envPath+".events_role_arn",
				"is in partition %s, but region %s is in %s", role.Partition, env.Region, p)
		}
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

// use adapts a names validator to a field check.
func use(valid func(string) error) func(string) string {
	return func(s string) string { return problem(valid(s)) }
}

// problem is what a names error says without the value, which the field's
// line already points at; "" for nil.
func problem(err error) string {
	var ne *names.Error
	switch {
	case errors.As(err, &ne):
		return ne.Short()
	case err != nil:
		return err.Error()
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
// repository (names.Dockerfile), so the build can never be pointed at the
// worker's own files. Symlinks are resolved at build time by source.SafePath.
func checkDockerfile(env *Env, node *yaml.Node, envPath string) error {
	if env.Dockerfile == "" {
		return nil
	}
	clean, err := names.Dockerfile(env.Dockerfile)
	if err != nil {
		return newFieldError(valueLine(node, "dockerfile"), envPath+".dockerfile", "%s", problem(err))
	}
	env.Dockerfile = clean
	return nil
}

// matches checks a value against a pattern that is the file's own rule (a
// Dockerfile stage, a platform), not a provider's name: those are package
// names'.
func matches(re *regexp.Regexp, problem string) func(string) string {
	return func(s string) string {
		if re.MatchString(s) {
			return ""
		}
		return problem
	}
}

package awsdeploy_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	awsdeploy "github.com/pandadeploy/panda/deploy/aws"
)

type state struct {
	Type     string `json:"Type"`
	Resource string `json:"Resource"`
	Next     string `json:"Next"`
	End      bool   `json:"End"`
	Default  string `json:"Default"`
	Choices  []struct {
		Next string `json:"Next"`
	} `json:"Choices"`
	Retry []struct {
		ErrorEquals []string `json:"ErrorEquals"`
	} `json:"Retry"`
	Catch []struct {
		ErrorEquals []string `json:"ErrorEquals"`
		Next        string   `json:"Next"`
	} `json:"Catch"`
}

type definition struct {
	StartAt string           `json:"StartAt"`
	States  map[string]state `json:"States"`
}

func parseDefinition(t *testing.T) definition {
	t.Helper()
	var d definition
	if err := json.Unmarshal(awsdeploy.BlueGreenDefinition(), &d); err != nil {
		t.Fatalf("parse bluegreen.asl.json: %v", err)
	}
	return d
}

// targets returns the states st can go to.
func (st state) targets() []string {
	var out []string
	for _, n := range []string{st.Next, st.Default} {
		if n != "" {
			out = append(out, n)
		}
	}
	for _, c := range st.Choices {
		out = append(out, c.Next)
	}
	for _, c := range st.Catch {
		out = append(out, c.Next)
	}
	return out
}

// aslValidator finds the asl-validator the test command installs with
// `npm ci` in this directory. Under CI=true a missing validator fails the
// test; elsewhere it skips.
func aslValidator(t *testing.T) string {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("node_modules", ".bin", "asl-validator"))
	if err == nil {
		if _, err = os.Stat(bin); err == nil {
			if _, err = exec.LookPath("node"); err == nil {
				return bin
			}
		}
	}
	msg := "asl-validator is not installed (run: cd deploy/aws && npm ci): " + err.Error()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func validate(t *testing.T, bin string, definition []byte) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "definition.asl.json")
	if err := os.WriteFile(path, definition, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "--json-path", path).CombinedOutput()
	return string(out), err
}

func TestDefinitionPassesASLValidator(t *testing.T) {
	t.Parallel()
	bin := aslValidator(t)
	tests := []struct {
		name       string
		definition []byte
		wantValid  bool
	}{
		{name: "shipped", definition: awsdeploy.BlueGreenDefinition(), wantValid: true},
		// The validator must be able to say no, or passing it proves nothing.
		{name: "next_names_no_state", definition: []byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Missing"}}}`)},
		{name: "task_without_resource", definition: []byte(`{"StartAt":"A","States":{"A":{"Type":"Task","End":true}}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := validate(t, bin, tt.definition)
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("run asl-validator: %v\n%s", err, out)
			}
			if valid := err == nil; valid != tt.wantValid {
				t.Errorf("valid = %v, want %v; asl-validator said:\n%s", valid, tt.wantValid, out)
			}
		})
	}
}

func TestDefinitionHasStageStates(t *testing.T) {
	t.Parallel()
	d := parseDefinition(t)
	if d.StartAt != awsdeploy.StageStates()[0] {
		t.Errorf("StartAt = %q, want %q", d.StartAt, awsdeploy.StageStates()[0])
	}
	for _, name := range awsdeploy.StageStates() {
		st, ok := d.States[name]
		switch {
		case !ok:
			t.Errorf("state %s, which Panda reports as a stage, is missing", name)
		case st.Type != "Task" || !strings.HasPrefix(st.Resource, "arn:aws:states:::aws-sdk:ecs:"):
			t.Errorf("state %s is %s %q, want an aws-sdk:ecs Task", name, st.Type, st.Resource)
		}
	}
}

func TestDefinitionHandlesErrors(t *testing.T) {
	t.Parallel()
	d := parseDefinition(t)
	for name, st := range d.States {
		for _, next := range st.targets() {
			if _, ok := d.States[next]; !ok {
				t.Errorf("%s goes to %q, which is no state", name, next)
			}
		}
		if st.Type != "Task" {
			continue
		}
		// Step Functions reports an error the service's API model does not
		// define as the SDK's generic service exception ("Ecs.EcsException"):
		// ECS's model has no ThrottlingException (aws/aws-sdk#821), so a
		// retrier on "Ecs.ThrottlingException" never matches a throttled call.
		throttled := map[string]string{
			"arn:aws:states:::aws-sdk:ecs:":                    "Ecs.EcsException",
			"arn:aws:states:::aws-sdk:elasticloadbalancingv2:": "ElasticLoadBalancingV2.ElasticLoadBalancingV2Exception",
		}
		for prefix, want := range throttled {
			if !strings.HasPrefix(st.Resource, prefix) {
				continue
			}
			if !slices.ContainsFunc(st.Retry, func(r struct {
				ErrorEquals []string `json:"ErrorEquals"`
			}) bool {
				return slices.Contains(r.ErrorEquals, want)
			}) {
				t.Errorf("Task %s does not retry throttling (%s)", name, want)
			}
			for _, r := range st.Retry {
				if slices.Contains(r.ErrorEquals, "Ecs.ThrottlingException") {
					t.Errorf("Task %s retries Ecs.ThrottlingException, an error Step Functions never reports", name)
				}
			}
		}
		if len(st.Catch) == 0 || !slices.Contains(st.Catch[len(st.Catch)-1].ErrorEquals, "States.ALL") {
			t.Errorf("Task %s does not catch States.ALL", name)
			continue
		}
		if fail := d.States[st.Catch[len(st.Catch)-1].Next]; fail.Type != "Fail" && !strings.HasPrefix(st.Catch[len(st.Catch)-1].Next, "Rollback") {
			t.Errorf("Task %s catches into %s, neither a Fail state nor a rollback", name, st.Catch[len(st.Catch)-1].Next)
		}
	}
}

// TestDefinitionPaths checks the shape Panda's follower relies on: the path
// of Defaults (which awstest walks for a successful deployment) reaches a
// Succeed state through every stage without a Rollback… state, and a failure
// of BlueGreenDeployment rolls back before it fails.
func TestDefinitionPaths(t *testing.T) {
	t.Parallel()
	d := parseDefinition(t)
	var path []string
	for name := d.StartAt; len(path) < len(d.States); {
		path = append(path, name)
		st := d.States[name]
		if st.Type == "Succeed" || st.Type == "Fail" || st.End {
			break
		}
		name = st.Next
		if st.Type == "Choice" {
			name = st.Default
		}
	}
	if last := d.States[path[len(path)-1]]; last.Type != "Succeed" {
		t.Fatalf("the default path %v does not end in a Succeed state", path)
	}
	for _, name := range path {
		if strings.HasPrefix(name, "Rollback") {
			t.Errorf("the success path %v goes through %s", path, name)
		}
	}
	var stages []string
	for _, name := range path {
		if slices.Contains(awsdeploy.StageStates(), name) {
			stages = append(stages, name)
		}
	}
	if !slices.Equal(stages, awsdeploy.StageStates()) {
		t.Errorf("the success path enters stages %v, want %v", stages, awsdeploy.StageStates())
	}
	rollback := d.States["BlueGreenDeployment"].Catch
	if len(rollback) == 0 || !strings.HasPrefix(rollback[0].Next, "Rollback") {
		t.Fatalf("BlueGreenDeployment's Catch = %+v, want a Rollback… state", rollback)
	}
	r := d.States[rollback[0].Next]
	if r.Resource != "arn:aws:states:::aws-sdk:ecs:stopServiceDeployment" {
		t.Errorf("%s is %+v, want stopServiceDeployment", rollback[0].Next, r)
	}
	// After the stop, the path of Defaults awaits the rollback in Rollback…
	// states (which tell the follower the deployment was rolled back) and
	// ends in a Fail state.
	var after []string
	for name := r.Next; len(after) < len(d.States); {
		after = append(after, name)
		st := d.States[name]
		if st.Type == "Succeed" || st.Type == "Fail" || st.End {
			break
		}
		name = st.Next
		if st.Type == "Choice" {
			name = st.Default
		}
	}
	if last := d.States[after[len(after)-1]]; last.Type != "Fail" || !slices.ContainsFunc(after, func(n string) bool { return strings.HasPrefix(n, "Rollback") }) {
		t.Errorf("after the rollback the default path is %v, want Rollback… states then a Fail state", after)
	}
}

package awsdeploy_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"gopkg.in/yaml.v3"

	awsdeploy "github.com/pandadeploy/panda/deploy/aws"
)

var update = flag.Bool("update", false, "rewrite the definition embedded in panda.yaml from bluegreen.asl.json")

// embedDefinition returns template with the block scalar under
// DefinitionString replaced by definition, indented to fit.
func embedDefinition(template, definition []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(template), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "DefinitionString: |" })
	if start < 0 {
		return nil, fmt.Errorf("panda.yaml has no line %q", "DefinitionString: |")
	}
	indent := strings.Repeat(" ", len(lines[start])-len(strings.TrimLeft(lines[start], " "))+2)
	end := start + 1
	for end < len(lines) && (strings.HasPrefix(lines[end], indent) || strings.TrimSpace(lines[end]) == "") {
		end++
	}
	for end > start+1 && strings.TrimSpace(lines[end-1]) == "" { // keep the blank lines after the block
		end--
	}
	var block strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimRight(string(definition), "\n")+"\n", "\n") {
		if l != "" {
			block.WriteString(indent + l)
		}
	}
	out := slices.Concat(lines[:start+1], []string{block.String()}, lines[end:])
	return []byte(strings.Join(out, "")), nil
}

// TestTemplateEmbedsDefinition keeps one source of truth: the state machine
// in panda.yaml is exactly bluegreen.asl.json.
func TestTemplateEmbedsDefinition(t *testing.T) {
	want, err := embedDefinition(awsdeploy.Template(), awsdeploy.BlueGreenDefinition())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("panda.yaml", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(want, awsdeploy.Template()) {
		t.Errorf("panda.yaml does not embed bluegreen.asl.json; run: go test ./deploy/aws -run TestTemplateEmbedsDefinition -update")
	}
}

func TestTemplateParses(t *testing.T) {
	t.Parallel()
	tmpl, err := goformation.ParseYAML(awsdeploy.Template())
	if err != nil {
		t.Fatalf("parse panda.yaml: %v", err)
	}
	machine, err := tmpl.GetStepFunctionsStateMachineWithName("StateMachine")
	if err != nil {
		t.Fatal(err)
	}
	if machine.DefinitionString == nil || strings.TrimSpace(*machine.DefinitionString) != strings.TrimSpace(string(awsdeploy.BlueGreenDefinition())) {
		t.Errorf("the state machine's DefinitionString is not bluegreen.asl.json")
	}
	for _, name := range []string{"StateMachineRole", "WorkerRole", "EventsRole"} {
		if _, err := tmpl.GetIAMRoleWithName(name); err != nil {
			t.Errorf("role %s: %v", name, err)
		}
	}
	for _, name := range []string{"StateMachineArn", "WorkerRoleArn", "Region"} {
		if _, ok := tmpl.Outputs[name]; !ok {
			t.Errorf("output %s, which .panda.yml needs, is missing", name)
		}
	}
}

// rawTemplate parses a template as plain YAML, keeping intrinsic functions as written.
func rawTemplate(t *testing.T, src []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(src, &m); err != nil {
		t.Fatalf("parse template: %v", err)
	}
	return m
}

var pseudoParameters = []string{"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// unresolved returns the Ref, Fn::GetAtt, Fn::Sub and condition names of a
// template that name nothing in it.
func unresolved(tmpl map[string]any) []string {
	names := func(section string) map[string]any { m, _ := tmpl[section].(map[string]any); return m }
	params, resources, conditions := names("Parameters"), names("Resources"), names("Conditions")
	refOK := func(n string) bool {
		_, p := params[n]
		_, r := resources[n]
		return p || r || slices.Contains(pseudoParameters, n)
	}
	var bad []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				switch k {
				case "Ref":
					if n, _ := e.(string); !refOK(n) {
						bad = append(bad, "Ref "+fmt.Sprint(e))
					}
				case "Fn::GetAtt":
					if l, _ := e.([]any); len(l) != 2 || resources[fmt.Sprint(l[0])] == nil {
						bad = append(bad, "Fn::GetAtt "+fmt.Sprint(e))
					}
				case "Fn::Sub":
					s, _ := e.(string)
					for _, m := range subVar.FindAllStringSubmatch(s, -1) {
						if n, attr, ok := strings.Cut(m[1], "."); (ok && resources[n] == nil && attr != "") || (!ok && !refOK(n)) {
							bad = append(bad, "Fn::Sub ${"+m[1]+"}")
						}
					}
				case "Condition", "Fn::If":
					n := e
					if l, ok := e.([]any); ok && k == "Fn::If" && len(l) > 0 {
						n = l[0]
					}
					if s, ok := n.(string); ok && conditions[s] == nil {
						bad = append(bad, k+" "+s)
					}
				}
				walk(e)
			}
		}
	}
	walk(resources)
	walk(tmpl["Outputs"])
	walk(conditions)
	return bad
}

// wildcardActions returns the IAM statements of a template's roles that
// grant every action ("*") or every action of a service ("ecs:*"), or use NotAction.
func wildcardActions(tmpl map[string]any) []string {
	resources, _ := tmpl["Resources"].(map[string]any)
	var bad []string
	for name, r := range resources {
		props, _ := r.(map[string]any)["Properties"].(map[string]any)
		var docs []any
		if d, ok := props["AssumeRolePolicyDocument"]; ok {
			docs = append(docs, d)
		}
		if d, ok := props["PolicyDocument"]; ok {
			docs = append(docs, d)
		}
		policies, _ := props["Policies"].([]any)
		for _, p := range policies {
			docs = append(docs, p.(map[string]any)["PolicyDocument"])
		}
		for _, d := range docs {
			statements, _ := d.(map[string]any)["Statement"].([]any)
			for _, s := range statements {
				st, _ := s.(map[string]any)
				if _, ok := st["NotAction"]; ok {
					bad = append(bad, name+": NotAction")
				}
				actions, ok := st["Action"].([]any)
				if !ok {
					actions = []any{st["Action"]}
				}
				for _, a := range actions {
					if a := fmt.Sprint(a); a == "*" || strings.HasSuffix(a, ":*") {
						bad = append(bad, name+": "+a)
					}
				}
			}
		}
	}
	return bad
}

func TestTemplateReferencesResolve(t *testing.T) {
	t.Parallel()
	if bad := unresolved(rawTemplate(t, awsdeploy.Template())); len(bad) > 0 {
		t.Errorf("panda.yaml refers to what it does not define: %v", bad)
	}
	// The check must catch what it looks for.
	broken := []byte(`
Parameters: {P: {Type: String}}
Conditions: {C: {"Fn::Equals": [{Ref: P}, ""]}}
Resources:
  A: {Type: "AWS::SNS::Topic", Condition: Missing, Properties: {TopicName: {Ref: Nope}, DisplayName: {"Fn::Sub": "${P}-${AWS::Region}-${Gone}-${A.TopicName}-${Lost.Arn}-${!Literal}"}}}
  B: {Type: "AWS::SNS::Topic", Properties: {TopicName: {"Fn::GetAtt": [Ghost, Arn]}}}
`)
	got := unresolved(rawTemplate(t, broken))
	slices.Sort(got)
	want := []string{"Condition Missing", "Fn::GetAtt [Ghost Arn]", "Fn::Sub ${Gone}", "Fn::Sub ${Lost.Arn}", "Ref Nope"}
	if !slices.Equal(got, want) {
		t.Errorf("unresolved(broken) = %v, want %v", got, want)
	}
}

func TestTemplateGrantsNoWildcardActions(t *testing.T) {
	t.Parallel()
	if bad := wildcardActions(rawTemplate(t, awsdeploy.Template())); len(bad) > 0 {
		t.Errorf("panda.yaml grants wildcard actions: %v", bad)
	}
	broken := []byte(`
Resources:
  R:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyDocument: {Statement: [{Effect: Allow, Action: "*", Resource: "*"}, {Effect: Allow, Action: [ecs:DescribeServices, "ecs:*"], Resource: "*"}]}
        - PolicyDocument: {Statement: [{Effect: Allow, NotAction: iam:PassRole, Resource: "*"}]}
`)
	got := wildcardActions(rawTemplate(t, broken))
	slices.Sort(got)
	if want := []string{"R: *", "R: NotAction", "R: ecs:*"}; !slices.Equal(got, want) {
		t.Errorf("wildcardActions(broken) = %v, want %v", got, want)
	}
}

// TestStateMachineRoleAllowsEveryCall cross-checks the definition with the
// template: every AWS SDK integration the definition calls is an action the
// state machine's role grants.
func TestStateMachineRoleAllowsEveryCall(t *testing.T) {
	t.Parallel()
	resources := rawTemplate(t, awsdeploy.Template())["Resources"].(map[string]any)
	props := resources["StateMachineRole"].(map[string]any)["Properties"].(map[string]any)
	var granted []string
	for _, p := range props["Policies"].([]any) {
		for _, s := range p.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			switch a := s.(map[string]any)["Action"].(type) {
			case string:
				granted = append(granted, strings.ToLower(a))
			case []any:
				for _, x := range a {
					granted = append(granted, strings.ToLower(fmt.Sprint(x)))
				}
			}
		}
	}
	iamPrefix := map[string]string{"ecs": "ecs", "elasticloadbalancingv2": "elasticloadbalancing"}
	for name, st := range parseDefinition(t).States {
		rest, ok := strings.CutPrefix(st.Resource, "arn:aws:states:::aws-sdk:")
		if !ok {
			continue
		}
		service, action, _ := strings.Cut(rest, ":")
		want := strings.ToLower(iamPrefix[service] + ":" + action)
		if !slices.Contains(granted, want) {
			t.Errorf("state %s calls %s, which StateMachineRole does not grant", name, want)
		}
	}
}

package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"gopkg.in/yaml.v3"

	awsdeploy "github.com/pandadeploy/panda/deploy/aws"
	"github.com/pandadeploy/panda/store"
)

// TestEventBridgeEnvironmentsShareARepository: production and staging deploy
// the same branch to one ECR repository in the EventBridge mode, and the
// shipped CloudFormation rule (default parameters) is installed as well.
// ECR announces every tag Panda pushed; each deployment starts exactly one
// execution, with its own environment's input.
func TestEventBridgeEnvironmentsShareARepository(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	role := "arn:aws:iam::" + h.aws.Account() + ":role/panda-events"
	eb := "    trigger: eventbridge\n    events_role_arn: " + role + "\n"
	yml := h.pandaYML(eb) + `  staging:
    branch: main
    region: us-east-1
    state_machine_arn: ` + h.smARN + `
    cluster: staging
    service: web
    task_family: web
    container_port: 8080
` + eb
	h.installShippedRule(map[string]string{"TriggerRepository": "acme-app", "TriggerTagPrefix": "", "TriggerEnvironment": "production", "TriggerCluster": "prod"}, role)

	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "two envs"}, yml)
	h.push(sha, "both")
	var deps []*store.Deployment
	waitFor(t, func() bool {
		list, _ := h.store.List(context.Background(), store.Filter{Repo: testRepo, SHA: sha})
		deps = list
		return len(list) == 2 && list[0].ImageURI != "" && list[1].ImageURI != ""
	}, "both images to be pushed")
	_, digest, _ := strings.Cut(deps[0].ImageURI, "@")
	// Stand in for ECR: one event per tag pushed, as ECR sends them.
	tags := h.reg.Tags("acme-app")
	started := 0
	for _, tag := range tags {
		started += len(h.aws.EmitECRPush("acme-app", tag, digest))
	}
	if started != 2 || len(tags) != 2 {
		t.Fatalf("tags %v started %d executions, want 2 tags starting one execution each", tags, started)
	}
	client := sfn.NewFromConfig(h.aws.Config())
	seen := map[string]string{}
	waitFor(t, func() bool {
		list, _ := h.store.List(context.Background(), store.Filter{Repo: testRepo, SHA: sha})
		n := 0
		for _, d := range list {
			if d.Status.Final() {
				n++
			}
		}
		deps = list
		return n == 2
	}, "both deployments to end")
	for _, d := range deps {
		if d.Status != store.StatusSucceeded {
			t.Errorf("%s: %s (%s)", d.Environment, d.Status, d.Error)
		}
		out, err := client.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(d.ExecutionARN)})
		if err != nil {
			t.Fatalf("%s follows %q: %v", d.Environment, d.ExecutionARN, err)
		}
		var in struct{ Environment, Cluster, ImageTag string }
		if err := json.Unmarshal([]byte(aws.ToString(out.Input)), &in); err != nil {
			t.Fatal(err)
		}
		wantCluster := map[string]string{"production": "prod", "staging": "staging"}[d.Environment]
		if in.Environment != d.Environment || in.Cluster != wantCluster || in.ImageTag != "panda."+d.Environment+"."+sha {
			t.Errorf("%s followed an execution with input %+v", d.Environment, in)
		}
		if prev, dup := seen[d.ExecutionARN]; dup {
			t.Errorf("%s and %s follow the same execution", prev, d.Environment)
		}
		seen[d.ExecutionARN] = d.Environment
	}
	if n := len(h.aws.Executions(h.smARN)); n != 2 {
		t.Errorf("%d executions, want 2", n)
	}
	if n := h.aws.CallCount("StartExecution"); n != 0 {
		t.Errorf("Panda called StartExecution %d times in EventBridge mode", n)
	}
}

// installShippedRule puts panda.yaml's PushRule on the AWS test server as
// CloudFormation would create it with params (other parameters at their
// defaults): its event pattern resolved, targeting the state machine.
func (h *harness) installShippedRule(params map[string]string, role string) {
	h.t.Helper()
	var tmpl struct {
		Parameters map[string]struct {
			Default any `yaml:"Default"`
		} `yaml:"Parameters"`
		Conditions map[string]any `yaml:"Conditions"`
		Resources  map[string]struct {
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(awsdeploy.Template(), &tmpl); err != nil {
		h.t.Fatal(err)
	}
	values := map[string]string{}
	for name, p := range tmpl.Parameters {
		values[name] = fmt.Sprint(p.Default)
	}
	for k, v := range params {
		values[k] = v
	}
	r := cfnResolver{t: h.t, params: values, conditions: tmpl.Conditions}
	rule := tmpl.Resources["PushRule"].Properties
	pattern, err := json.Marshal(r.resolve(rule["EventPattern"]))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx := context.Background()
	events := eventbridge.NewFromConfig(h.aws.Config())
	name := "panda-panda-bluegreen-push"
	if _, err := events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(string(pattern)), State: ebtypes.RuleStateEnabled}); err != nil {
		h.t.Fatalf("put the shipped rule %s: %v", pattern, err)
	}
	if _, err := events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{
		Id: aws.String("panda-state-machine"), Arn: aws.String(h.smARN), RoleArn: aws.String(role),
		Input: aws.String(`{"environment":"` + values["TriggerEnvironment"] + `","cluster":"` + values["TriggerCluster"] + `"}`),
	}}}); err != nil {
		h.t.Fatal(err)
	}
}

// cfnResolver evaluates the few intrinsic functions the rule uses: Ref of a
// parameter, Fn::Sub of parameters, Fn::If on a condition of Fn::Not and
// Fn::Equals.
type cfnResolver struct {
	t          *testing.T
	params     map[string]string
	conditions map[string]any
}

var cfnSubVar = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

func (r cfnResolver) resolve(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			return r.param(ref)
		}
		if sub, ok := x["Fn::Sub"].(string); ok && len(x) == 1 {
			return cfnSubVar.ReplaceAllStringFunc(sub, func(m string) string { return r.param(m[2 : len(m)-1]) })
		}
		if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 {
			if r.condition(r.conditions[args[0].(string)]) {
				return r.resolve(args[1])
			}
			return r.resolve(args[2])
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = r.resolve(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.resolve(e)
		}
		return out
	}
	return v
}

func (r cfnResolver) param(name string) string {
	v, ok := r.params[name]
	if !ok {
		r.t.Fatalf("the shipped rule refers to %s, not a parameter", name)
	}
	return v
}

func (r cfnResolver) condition(c any) bool {
	m, _ := c.(map[string]any)
	if not, ok := m["Fn::Not"].([]any); ok {
		return !r.condition(not[0])
	}
	if eq, ok := m["Fn::Equals"].([]any); ok {
		return fmt.Sprint(r.resolve(eq[0])) == fmt.Sprint(r.resolve(eq[1]))
	}
	r.t.Fatalf("condition %v is not modelled", c)
	return false
}

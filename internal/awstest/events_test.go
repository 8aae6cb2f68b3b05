package awstest_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/pandadeploy/panda/internal/awstest"
)

const pushPattern = `{"source":["aws.ecr"],"detail-type":["ECR Image Action"],"detail":{"action-type":["PUSH"],"result":["SUCCESS"],"repository-name":["acme-web"]}}`

func TestEventBridgeRulesAndTargets(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	machine := srv.StateMachineARN("panda-bluegreen")
	srv.AddStateMachine(machine, awstest.BlueGreenDefinition())
	client := eventbridge.NewFromConfig(srv.Config())
	ctx := t.Context()

	var notFound *ebtypes.ResourceNotFoundException
	if _, err := client.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("panda-acme-web")}); !errors.As(err, &notFound) {
		t.Fatalf("describe missing rule: %v, want ResourceNotFoundException", err)
	}
	if _, err := client.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("panda-acme-web"), Targets: []ebtypes.Target{{Id: aws.String("sfn"), Arn: aws.String(machine)}}}); !errors.As(err, &notFound) {
		t.Fatalf("targets on missing rule: %v, want ResourceNotFoundException", err)
	}
	var badPattern *ebtypes.InvalidEventPatternException
	if _, err := client.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("panda-acme-web"), EventPattern: aws.String("[1]")}); !errors.As(err, &badPattern) {
		t.Fatalf("bad pattern: %v, want InvalidEventPatternException", err)
	}

	put, err := client.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("panda-acme-web"), EventPattern: aws.String(pushPattern)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:events:us-east-1:123456789012:rule/panda-acme-web"; aws.ToString(put.RuleArn) != want {
		t.Errorf("RuleArn = %s, want %s", aws.ToString(put.RuleArn), want)
	}
	rule, err := client.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("panda-acme-web")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(rule.EventPattern) != pushPattern || rule.State != ebtypes.RuleStateEnabled {
		t.Errorf("rule = %s %s", aws.ToString(rule.EventPattern), rule.State)
	}

	roleARN := "arn:aws:iam::123456789012:role/events-start-sfn"
	targets, err := client.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("panda-acme-web"), Targets: []ebtypes.Target{{Id: aws.String("sfn"), Arn: aws.String(machine), RoleArn: aws.String(roleARN)}}})
	if err != nil || targets.FailedEntryCount != 0 {
		t.Fatalf("put targets: %v %+v", err, targets)
	}
	list, err := client.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("panda-acme-web")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Targets) != 1 || aws.ToString(list.Targets[0].Arn) != machine || aws.ToString(list.Targets[0].RoleArn) != roleARN {
		t.Fatalf("targets = %+v", list.Targets)
	}

	// A push to another repository starts nothing; a push to this one starts the state machine with the event.
	if got := srv.EmitECRPush("other-repo", "abc", "sha256:1"); len(got) != 0 {
		t.Errorf("push to other repo started %v", got)
	}
	started := srv.EmitECRPush("acme-web", "abc123", "sha256:2")
	if len(started) != 1 {
		t.Fatalf("push started %v, want one execution", started)
	}
	d, err := sfn.NewFromConfig(srv.Config()).DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(started[0])})
	if err != nil {
		t.Fatal(err)
	}
	var event struct {
		Detail map[string]string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(d.Input)), &event); err != nil || event.Detail["image-tag"] != "abc123" || event.Detail["repository-name"] != "acme-web" {
		t.Errorf("execution input = %s (%v)", aws.ToString(d.Input), err)
	}
	if !strings.HasPrefix(started[0], "arn:aws:states:us-east-1:123456789012:execution:panda-bluegreen:") {
		t.Errorf("execution ARN = %s", started[0])
	}
}

// TestEventPatternMatching asks the server, through the real client's
// TestEventPattern, what EventBridge's content filtering documentation says
// each pattern matches.
func TestEventPatternMatching(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	client := eventbridge.NewFromConfig(srv.Config())
	event := `{"version":"0","id":"1","detail-type":"ECR Image Action","source":"aws.ecr","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],
		"detail":{"result":"SUCCESS","repository-name":"acme-web","action-type":"PUSH","image-tag":"0123abc","tags":["latest","v1"],"size":42,"scan":null}}`
	tests := []struct {
		name, pattern string
		want          bool
	}{
		{"exact", `{"source":["aws.ecr"],"detail":{"repository-name":["acme-web"]}}`, true},
		{"exact_is_case_sensitive", `{"detail":{"repository-name":["ACME-WEB"]}}`, false},
		{"one_of_several", `{"detail":{"action-type":["DELETE","PUSH"]}}`, true},
		{"number", `{"detail":{"size":[42]}}`, true},
		{"number_is_not_string", `{"detail":{"size":["42"]}}`, false},
		{"null", `{"detail":{"scan":[null]}}`, true},
		{"missing_field", `{"detail":{"nope":["x"]}}`, false},
		{"array_value_any_element", `{"detail":{"tags":["v1"]}}`, true},
		{"prefix", `{"detail":{"repository-name":[{"prefix":"acme-"}]}}`, true},
		{"prefix_no", `{"detail":{"repository-name":[{"prefix":"other-"}]}}`, false},
		{"prefix_is_not_for_numbers", `{"detail":{"size":[{"prefix":"4"}]}}`, false},
		{"suffix", `{"detail":{"repository-name":[{"suffix":"-web"}]}}`, true},
		{"anything_but_value", `{"detail":{"result":[{"anything-but":"FAILURE"}]}}`, true},
		{"anything_but_same", `{"detail":{"result":[{"anything-but":"SUCCESS"}]}}`, false},
		{"anything_but_list", `{"detail":{"action-type":[{"anything-but":["DELETE","PUSH"]}]}}`, false},
		{"anything_but_prefix", `{"detail":{"repository-name":[{"anything-but":{"prefix":"other-"}}]}}`, true},
		{"anything_but_prefix_same", `{"detail":{"repository-name":[{"anything-but":{"prefix":"acme"}}]}}`, false},
		{"anything_but_missing_field", `{"detail":{"nope":[{"anything-but":"x"}]}}`, false},
		{"exists_true", `{"detail":{"image-tag":[{"exists":true}]}}`, true},
		{"exists_false", `{"detail":{"nope":[{"exists":false}]}}`, true},
		{"all_fields_must_match", `{"source":["aws.ecr"],"detail":{"result":["FAILURE"]}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := client.TestEventPattern(t.Context(), &eventbridge.TestEventPatternInput{EventPattern: aws.String(tt.pattern), Event: aws.String(event)})
			if err != nil {
				t.Fatal(err)
			}
			if out.Result != tt.want {
				t.Errorf("%s matches = %v, want %v", tt.pattern, out.Result, tt.want)
			}
		})
	}
	var bad *ebtypes.InvalidEventPatternException
	for _, p := range []string{`{"source":"aws.ecr"}`, `{"source":[{"wildcard-ish":"x"}]}`, `{"source":[{"prefix":1}]}`} {
		if _, err := client.TestEventPattern(t.Context(), &eventbridge.TestEventPatternInput{EventPattern: aws.String(p), Event: aws.String(event)}); !errors.As(err, &bad) {
			t.Errorf("pattern %s: %v, want InvalidEventPatternException", p, err)
		}
		if _, err := client.PutRule(t.Context(), &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(p)}); !errors.As(err, &bad) {
			t.Errorf("PutRule %s: %v, want InvalidEventPatternException", p, err)
		}
	}
}

// TestEmitECRPushHonoursPrefix: a rule with a prefix filter starts the state
// machine for the repositories it names and for no other.
func TestEmitECRPushHonoursPrefix(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	machine := srv.StateMachineARN("panda-bluegreen")
	srv.AddStateMachine(machine, awstest.BlueGreenDefinition())
	client := eventbridge.NewFromConfig(srv.Config())
	pattern := `{"source":["aws.ecr"],"detail":{"repository-name":[{"prefix":"acme-"}],"image-tag":[{"anything-but":{"prefix":"cache-"}}]}}`
	if _, err := client.PutRule(t.Context(), &eventbridge.PutRuleInput{Name: aws.String("panda-acme"), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutTargets(t.Context(), &eventbridge.PutTargetsInput{Rule: aws.String("panda-acme"), Targets: []ebtypes.Target{{Id: aws.String("sfn"), Arn: aws.String(machine)}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		repo, tag string
		want      int
	}{{"acme-web", "abc", 1}, {"other-web", "abc", 0}, {"acme-api", "cache-main", 0}} {
		if got := len(srv.EmitECRPush(c.repo, c.tag, "sha256:00")); got != c.want {
			t.Errorf("push %s:%s started %d executions, want %d", c.repo, c.tag, got, c.want)
		}
	}
}

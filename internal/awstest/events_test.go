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

package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
)

// RuleSpec describes the EventBridge rule of the trigger mode: a push to
// ECRRepository starts StateMachineARN, which EventBridge does as RoleARN.
type RuleSpec struct {
	Name          string
	ECRRepository string
	// TagPrefix limits the rule to image tags that start with it. Panda
	// gives each environment its own (TriggerTag), since environments share
	// an ECR repository by default: without it a push for staging would
	// start production's rollout, and every tag pushed would start one.
	TagPrefix       string
	StateMachineARN string
	RoleARN         string
	// Input holds the settings every execution the rule starts gets (cluster,
	// service, task family, port, count, repository, environment). The image
	// (by digest), its tag and the commit (the tag) come from the push event.
	Input Input
}

// inputTransformer makes the execution input from the ECR push event, so the
// state machine gets the same input as when Panda starts it, plus imageTag for
// FindExecution.
func inputTransformer(in Input) *ebtypes.InputTransformer {
	fixed, _ := json.Marshal(struct {
		Cluster       string       `json:"cluster"`
		Service       string       `json:"service"`
		TaskFamily    string       `json:"taskFamily"`
		ContainerPort int          `json:"containerPort"`
		DesiredCount  int          `json:"desiredCount,omitempty"`
		Repository    string       `json:"repository"`
		Environment   string       `json:"environment"`
		HealthCheck   *HealthCheck `json:"healthCheck,omitempty"`
		Approval      *Approval    `json:"approval,omitempty"`
	}{in.Cluster, in.Service, in.TaskFamily, in.ContainerPort, in.DesiredCount, in.Repository, in.Environment, in.HealthCheck, in.Approval})
	// The fixed part is JSON made here; the event's values go into quoted
	// placeholders, so nothing in an event can change the template's shape.
	tmpl := `{"imageUri":"<account>.dkr.ecr.<region>.amazonaws.com/<repo>@<digest>","imageTag":"<tag>","commit":"<tag>",` +
		string(fixed[1:])
	return &ebtypes.InputTransformer{
		InputPathsMap: map[string]string{
			"account": "$.account", "region": "$.region", "repo": "$.detail.repository-name",
			"tag": "$.detail.image-tag", "digest": "$.detail.image-digest",
		},
		InputTemplate: aws.String(tmpl),
	}
}

// targetID is the id of the rule's one target; PutTargets with the same id
// replaces it, so a changed state machine does not add a second target.
const targetID = "panda-state-machine"

// PushPattern returns the EventBridge pattern of a successful push to
// repository of an image tag that starts with tagPrefix (any tag if empty).
// Prefix matching is EventBridge's content filter {"prefix": …}
// (EventBridge user guide, "Content filtering in Amazon EventBridge event
// patterns").
func PushPattern(repository, tagPrefix string) string {
	detail := map[string]any{
		"action-type":     []string{"PUSH"},
		"result":          []string{"SUCCESS"},
		"repository-name": []string{repository},
	}
	if tagPrefix != "" {
		detail["image-tag"] = []any{map[string]string{"prefix": tagPrefix}}
	}
	b, _ := json.Marshal(map[string]any{
		"source":      []string{"aws.ecr"},
		"detail-type": []string{"ECR Image Action"},
		"detail":      detail,
	})
	return string(b)
}

// TriggerTagPrefix is the image tag prefix of environment's EventBridge
// rule: "panda.{environment}.". Environment names cannot hold a dot
// (repoconfig), so no environment's prefix is a prefix of another's, and no
// tag Panda pushes otherwise (the commit SHA, {owner}-{repo}-{branch}-{time})
// starts with "panda.".
func TriggerTagPrefix(environment string) string { return "panda." + environment + "." }

// TriggerTag is the one tag Panda pushes of commit for environment in the
// EventBridge mode; the execution the rule starts carries it as imageTag and
// commit (an input transformer cannot cut the prefix off).
func TriggerTag(environment, commit string) string { return TriggerTagPrefix(environment) + commit }

// EnsureRule makes sure the rule exists, is enabled, matches pushes to the
// repository, and targets the state machine. It writes only what is missing
// or different, so calling it on every deployment is cheap and safe.
func (c *Client) EnsureRule(ctx context.Context, spec RuleSpec) error {
	pattern := PushPattern(spec.ECRRepository, spec.TagPrefix)
	rule, err := c.Events.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(spec.Name)})
	var notFound *ebtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
	case err != nil:
		return classify(err, "describe rule "+spec.Name)
	case rule.State == ebtypes.RuleStateEnabled && sameJSON(aws.ToString(rule.EventPattern), pattern):
		return c.ensureTarget(ctx, spec)
	}
	_, err = c.Events.PutRule(ctx, &eventbridge.PutRuleInput{
		Name:         aws.String(spec.Name),
		EventPattern: aws.String(pattern),
		State:        ebtypes.RuleStateEnabled,
		Description:  aws.String("Panda: deploy images pushed to " + spec.ECRRepository + " tagged " + spec.TagPrefix + "*"),
	})
	if err != nil {
		return classify(err, "put rule "+spec.Name)
	}
	return c.ensureTarget(ctx, spec)
}

func (c *Client) ensureTarget(ctx context.Context, spec RuleSpec) error {
	in := &eventbridge.ListTargetsByRuleInput{Rule: aws.String(spec.Name)}
	for {
		out, err := c.Events.ListTargetsByRule(ctx, in)
		if err != nil {
			return classify(err, "list targets of rule "+spec.Name)
		}
		for _, t := range out.Targets {
			if aws.ToString(t.Arn) == spec.StateMachineARN && aws.ToString(t.RoleArn) == spec.RoleARN &&
				t.InputTransformer != nil && aws.ToString(t.InputTransformer.InputTemplate) == aws.ToString(inputTransformer(spec.Input).InputTemplate) {
				return nil
			}
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	out, err := c.Events.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String(spec.Name),
		Targets: []ebtypes.Target{{
			Id: aws.String(targetID), Arn: aws.String(spec.StateMachineARN), RoleArn: aws.String(spec.RoleARN),
			InputTransformer: inputTransformer(spec.Input),
		}},
	})
	if err != nil {
		return classify(err, "put target of rule "+spec.Name)
	}
	if out.FailedEntryCount > 0 && len(out.FailedEntries) > 0 {
		f := out.FailedEntries[0]
		return classify(errors.New(aws.ToString(f.ErrorCode)+": "+aws.ToString(f.ErrorMessage)), "put target of rule "+spec.Name)
	}
	return nil
}

func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

// FindExecution finds the execution of the state machine, started at or after
// since, whose input names imageTag: the ECR push event's detail.image-tag, an
// imageUri with that tag, or an imageTag field. found is false when there is
// none yet (EventBridge may not have started it); poll again later.
func (c *Client) FindExecution(ctx context.Context, stateMachineARN, imageTag string, since time.Time) (arn string, found bool, err error) {
	p := sfn.NewListExecutionsPaginator(c.SFN, &sfn.ListExecutionsInput{StateMachineArn: aws.String(stateMachineARN), MaxResults: 100})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", false, classify(err, "list executions")
		}
		for _, e := range page.Executions { // newest first
			if aws.ToTime(e.StartDate).Before(since) {
				return "", false, nil
			}
			d, err := c.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
			if err != nil {
				return "", false, classify(err, "describe execution")
			}
			if inputNamesTag(aws.ToString(d.Input), imageTag) {
				return aws.ToString(e.ExecutionArn), true, nil
			}
		}
	}
	return "", false, nil
}

func inputNamesTag(input, tag string) bool {
	var in struct {
		ImageURI string `json:"imageUri"`
		ImageTag string `json:"imageTag"`
		Detail   struct {
			ImageTag string `json:"image-tag"`
		} `json:"detail"`
	}
	if tag == "" || json.Unmarshal([]byte(input), &in) != nil {
		return false
	}
	uri, _, _ := strings.Cut(in.ImageURI, "@")
	return in.Detail.ImageTag == tag || in.ImageTag == tag || strings.HasSuffix(uri, ":"+tag)
}

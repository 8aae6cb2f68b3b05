package awstest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/pandadeploy/panda/internal/awstest"
)

// rollout is one evaluated execution of the shipped definition against a
// blue/green service of the ECS model.
type rollout struct {
	srv    *awstest.Server
	client *sfn.Client
	res    awstest.BlueGreenResources
	arn    string
}

func startRollout(t *testing.T, spec awstest.BlueGreenService, input map[string]any, setup ...func(*awstest.Server)) *rollout {
	t.Helper()
	srv := awstest.NewServer(t)
	machine := srv.StateMachineARN("panda-bluegreen")
	srv.AddStateMachine(machine, awstest.BlueGreenDefinition())
	srv.SetOutcome(machine, awstest.Outcome{Evaluate: true})
	if spec.Cluster == "" {
		spec.Cluster, spec.Service, spec.Family = "production", "web", "web-task"
	}
	res := srv.AddBlueGreenService(spec)
	for _, f := range setup {
		f(srv)
	}
	in := map[string]any{
		"imageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-web@sha256:" + strings.Repeat("ab", 32),
		"cluster":  spec.Cluster, "service": spec.Service, "taskFamily": spec.Family, "containerPort": 8080,
		"repository": "acme/web", "commit": "0123456789abcdef0123456789abcdef01234567", "environment": "production", "deploymentId": "dep_0123456789",
	}
	for k, v := range input {
		if v == nil {
			delete(in, k)
		} else {
			in[k] = v
		}
	}
	b, _ := json.Marshal(in)
	client := sfn.NewFromConfig(srv.Config())
	out, err := client.StartExecution(t.Context(), &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String("dep_0123456789"), Input: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	return &rollout{srv: srv, client: client, res: res, arn: aws.ToString(out.ExecutionArn)}
}

// wait polls DescribeExecution until the execution ends.
func (r *rollout) wait(t *testing.T) *sfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := r.client.DescribeExecution(t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(r.arn)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != sfntypes.ExecutionStatusRunning {
			t.Logf("states entered: %s", strings.Join(r.srv.EnteredStates(r.arn), " → "))
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution still running; states entered: %v", r.srv.EnteredStates(r.arn))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRolloutHealthy(t *testing.T) {
	t.Parallel()
	r := startRollout(t, awstest.BlueGreenService{}, nil)
	end := r.wait(t)
	if end.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("status %s: %s %s", end.Status, aws.ToString(end.Error), aws.ToString(end.Cause))
	}
	t.Logf("output %s", aws.ToString(end.Output))
}

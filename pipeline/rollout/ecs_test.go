package rollout_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pandadeploy/panda/internal/awstest"
)

// TestCursorReadsTheServiceDeployment: following the shipped definition
// (evaluated against the ECS model) the cursor learns the service
// deployment ECS started and what ECS may take by its configuration (bake
// time plus each hook's timeout per stage); RollBack and DescribeDeployment
// then stop it and read it to its end, through the real ECS client.
func TestCursorReadsTheServiceDeployment(t *testing.T) {
	t.Parallel()
	f := newFixture(t, time.Millisecond, awstest.BlueGreenDefinition())
	f.srv.SetOutcome(f.machine, awstest.Outcome{Evaluate: true})
	cfg := &ecstypes.DeploymentConfiguration{
		Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(30),
		LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{
			HookTargetArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:check"), RoleArn: aws.String("arn:aws:iam::123456789012:role/hooks"),
			LifecycleStages:      []ecstypes.DeploymentLifecycleHookStage{ecstypes.DeploymentLifecycleHookStagePostScaleUp, ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift},
			TimeoutConfiguration: &ecstypes.DeploymentLifecycleHookTimeoutConfiguration{TimeoutInMinutes: aws.Int32(10)},
		}},
	}
	f.srv.AddBlueGreenService(awstest.BlueGreenService{Cluster: "prod", Service: "web", Family: "web-task", DeploymentConfiguration: cfg})
	f.client.ECS = ecs.NewFromConfig(f.srv.Config())
	arn, err := f.client.Start(t.Context(), f.request("dep_cursor0001"))
	if err != nil {
		t.Fatal(err)
	}
	_, p := f.follow(t, arn)
	cur := p.Cursor
	st, _ := f.srv.ECSService("prod", "web")
	if len(st.Deployments) != 1 || cur.ServiceDeploymentARN != aws.ToString(st.Deployments[0].ServiceDeploymentArn) || !cur.Updating || !cur.Updated {
		t.Fatalf("cursor %+v; ECS deployments %d", cur, len(st.Deployments))
	}
	if want := 30*time.Minute + 2*10*time.Minute; cur.ECSAllowance != want {
		t.Errorf("ECS allowance %s, want %s", cur.ECSAllowance, want)
	}
	if want := 5*time.Minute + cur.ECSAllowance; cur.Timeout(5*time.Minute) != want {
		t.Errorf("Timeout = %s, want %s", cur.Timeout(5*time.Minute), want)
	}
	// The deployment succeeded: ECS refuses the stop (ConflictException),
	// which RollBack takes as "nothing to do".
	if err := f.client.RollBack(t.Context(), cur.ServiceDeploymentARN); err != nil {
		t.Errorf("RollBack of a SUCCESSFUL deployment: %v", err)
	}
	sd, err := f.client.DescribeDeployment(t.Context(), "prod", "web", cur.ServiceDeploymentARN)
	if err != nil || !sd.Terminal || sd.Status != ecstypes.ServiceDeploymentStatusSuccessful || sd.Revision != 2 || !strings.HasSuffix(sd.TaskDefinition, "web-task:2") {
		t.Errorf("DescribeDeployment = %+v, %v", sd, err)
	}
}

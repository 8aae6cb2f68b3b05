package awstest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/pandadeploy/panda/internal/awstest"
)

func newECS(t *testing.T, spec awstest.BlueGreenService, opts ...awstest.Option) (*awstest.Server, *ecs.Client, awstest.BlueGreenResources) {
	t.Helper()
	srv := awstest.NewServer(t, opts...)
	if spec.Cluster == "" {
		spec.Cluster, spec.Service, spec.Family = "production", "web", "web-task"
	}
	res := srv.AddBlueGreenService(spec)
	return srv, ecs.NewFromConfig(srv.Config()), res
}

// waitStatus polls DescribeServiceDeployments until the deployment has one of want.
func waitStatus(t *testing.T, client *ecs.Client, arn string, want ...ecstypes.ServiceDeploymentStatus) ecstypes.ServiceDeployment {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := client.DescribeServiceDeployments(t.Context(), &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ServiceDeployments) == 1 {
			d := out.ServiceDeployments[0]
			for _, w := range want {
				if d.Status == w {
					return d
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("deployment %s in %s, want %v", d.Status, d.LifecycleStage, want)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestECSRefusals(t *testing.T) {
	t.Parallel()
	_, client, _ := newECS(t, awstest.BlueGreenService{})
	ctx := t.Context()
	var noCluster *ecstypes.ClusterNotFoundException
	if _, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("nope"), Services: []string{"web"}}); !errors.As(err, &noCluster) {
		t.Errorf("unknown cluster: %v, want ClusterNotFoundException", err)
	}
	var noService *ecstypes.ServiceNotFoundException
	if _, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("production"), Service: aws.String("api")}); !errors.As(err, &noService) {
		t.Errorf("unknown service: %v, want ServiceNotFoundException", err)
	}
	missing, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("production"), Services: []string{"web", "api"}})
	if err != nil || len(missing.Services) != 1 || len(missing.Failures) != 1 || aws.ToString(missing.Failures[0].Reason) != "MISSING" {
		t.Errorf("DescribeServices(web, api) = %+v, %v; want web and a MISSING failure", missing, err)
	}
	var invalid *ecstypes.InvalidParameterException
	for name, cfg := range map[string]*ecstypes.DeploymentConfiguration{
		"linear_with_blue_green": {Strategy: ecstypes.DeploymentStrategyBlueGreen, LinearConfiguration: &ecstypes.LinearConfiguration{StepPercent: aws.Float64(10)}},
		"bake_too_long":          {Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1441)},
		"hook_without_role":      {Strategy: ecstypes.DeploymentStrategyBlueGreen, LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{HookTargetArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:f"), LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{"POST_SCALE_UP"}}}},
	} {
		if _, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("production"), Service: aws.String("web"), DeploymentConfiguration: cfg}); !errors.As(err, &invalid) {
			t.Errorf("%s: %v, want InvalidParameterException", name, err)
		}
	}
	var client_ *ecstypes.ClientException
	if _, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web-task:9")}); !errors.As(err, &client_) {
		t.Errorf("unknown revision: %v, want ClientException", err)
	}
	if _, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("bad family"), ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("img")}}}); !errors.As(err, &client_) {
		t.Errorf("bad family: %v, want ClientException", err)
	}
	var notFound *ecstypes.ServiceDeploymentNotFoundException
	if _, err := client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String("arn:aws:ecs:us-east-1:123456789012:service-deployment/production/web/none")}); !errors.As(err, &notFound) {
		t.Errorf("unknown deployment: %v, want ServiceDeploymentNotFoundException", err)
	}
}

func TestECSTaskDefinitionRevisions(t *testing.T) {
	t.Parallel()
	_, client, res := newECS(t, awstest.BlueGreenService{})
	ctx := t.Context()
	for want := int32(2); want <= 3; want++ {
		out, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family:                        aws.String("web-task"),
			ContainerDefinitions:          []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("img:" + itoa(int(want)))}},
			TrustedExecutionConfiguration: &ecstypes.TrustedExecutionConfiguration{IsolationMode: ecstypes.IsolationModeIsolatedSandbox},
			Tags:                          []ecstypes.Tag{{Key: aws.String("panda:commit"), Value: aws.String("abc")}},
		})
		if err != nil || out.TaskDefinition.Revision != want || !strings.HasSuffix(aws.ToString(out.TaskDefinition.TaskDefinitionArn), ":web-task:"+itoa(int(want))) && !strings.HasSuffix(aws.ToString(out.TaskDefinition.TaskDefinitionArn), "/web-task:"+itoa(int(want))) {
			t.Fatalf("register: %+v %v, want revision %d", out, err, want)
		}
	}
	latest, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web-task"), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil || latest.TaskDefinition.Revision != 3 || aws.ToString(latest.TaskDefinition.ContainerDefinitions[0].Image) != "img:3" || latest.TaskDefinition.TrustedExecutionConfiguration == nil || len(latest.Tags) != 1 || latest.TaskDefinition.RegisteredAt == nil {
		t.Errorf("latest = %+v %v", latest, err)
	}
	first, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(res.TaskDefinitionARN)})
	if err != nil || first.TaskDefinition.Revision != 1 || first.Tags != nil {
		t.Errorf("by ARN = %+v %v", first, err)
	}
}

func TestECSServiceDeploymentLifecycle(t *testing.T) {
	t.Parallel()
	// A slower clock than the default, so a test polling on a loaded machine
	// still sees the deployment pass through its stages (each takes seconds
	// of the virtual clock; the one-minute bake, two wall seconds).
	srv, client, res := newECS(t, awstest.BlueGreenService{DesiredCount: 2, DeploymentConfiguration: bake(1)}, awstest.WithTimeScale(30))
	ctx := t.Context()
	up, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("production"), Service: aws.String("web"), TaskDefinition: aws.String("web-task:1")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(up.Service.CurrentServiceDeployment)
	if !strings.HasPrefix(arn, "arn:aws:ecs:us-east-1:123456789012:service-deployment/production/web/") || up.Service.DesiredCount != 2 {
		t.Fatalf("UpdateService answered %+v", up.Service)
	}
	d := waitStatus(t, client, arn, ecstypes.ServiceDeploymentStatusPending, ecstypes.ServiceDeploymentStatusInProgress)
	if d.TargetServiceRevision == nil || d.TargetServiceRevision.RequestedTaskCount != 2 || aws.ToString(d.ServiceArn) != res.ServiceARN || d.CreatedAt == nil {
		t.Errorf("deployment %+v", d)
	}
	seen := map[ecstypes.ServiceDeploymentLifecycleStage]bool{}
	for d.Status != ecstypes.ServiceDeploymentStatusSuccessful {
		d = waitStatus(t, client, arn, ecstypes.ServiceDeploymentStatusPending, ecstypes.ServiceDeploymentStatusInProgress, ecstypes.ServiceDeploymentStatusSuccessful)
		seen[d.LifecycleStage] = true
	}
	for _, st := range []ecstypes.ServiceDeploymentLifecycleStage{"SCALE_UP", "BAKE_TIME", "CLEAN_UP"} {
		if !seen[st] {
			t.Errorf("stages seen %v, missing %s", seen, st)
		}
	}
	var conflict *ecstypes.ConflictException
	if _, err := client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), StopType: ecstypes.StopServiceDeploymentStopTypeRollback}); !errors.As(err, &conflict) {
		t.Errorf("stop a SUCCESSFUL deployment: %v, want ConflictException", err)
	}
	list, err := client.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("production"), Service: aws.String("web")})
	if err != nil || len(list.ServiceDeployments) != 1 || aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn) != arn || list.ServiceDeployments[0].Status != ecstypes.ServiceDeploymentStatusSuccessful {
		t.Errorf("list = %+v %v", list, err)
	}
	svc, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("production"), Services: []string{"web"}})
	if err != nil || len(svc.Services[0].Events) < 2 || !strings.Contains(aws.ToString(svc.Services[0].Events[0].Message), "has reached a steady state") {
		t.Errorf("service events = %+v %v", svc.Services[0].Events, err)
	}

	// A second deployment, stopped with ROLLBACK while it runs; ABORT (in
	// the SDK's enum, not among the documented valid values) is refused.
	up, err = client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("production"), Service: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	second := aws.ToString(up.Service.CurrentServiceDeployment)
	var invalid *ecstypes.InvalidParameterException
	if _, err := client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(second), StopType: ecstypes.StopServiceDeploymentStopTypeAbort}); !errors.As(err, &invalid) {
		t.Errorf("ABORT: %v, want InvalidParameterException", err)
	}
	if _, err := client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(second), StopType: ecstypes.StopServiceDeploymentStopTypeRollback}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, second, ecstypes.ServiceDeploymentStatusRollbackRequested, ecstypes.ServiceDeploymentStatusRollbackInProgress)
	waitStatus(t, client, second, ecstypes.ServiceDeploymentStatusRollbackSuccessful)
	if n := srv.CallCount("StopServiceDeployment"); n != 3 {
		t.Errorf("%d StopServiceDeployment calls", n)
	}
}

func TestECSFailingTasks(t *testing.T) {
	t.Parallel()
	_, client, res := newECS(t, awstest.BlueGreenService{Scenario: awstest.ECSScenario{UnhealthyTasks: true}})
	ctx := t.Context()
	td, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web-task"), ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("bad:1")}}})
	if err != nil {
		t.Fatal(err)
	}
	up, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("production"), Service: aws.String("web"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn})
	if err != nil {
		t.Fatal(err)
	}
	d := waitStatus(t, client, aws.ToString(up.Service.CurrentServiceDeployment), ecstypes.ServiceDeploymentStatusRollbackSuccessful)
	if !strings.Contains(aws.ToString(d.StatusReason), "circuit breaker") {
		t.Errorf("statusReason %q", aws.ToString(d.StatusReason))
	}
	list, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("production"), ServiceName: aws.String("web"), DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil || len(list.TaskArns) != 3 { // the circuit breaker's threshold for 1 task: 3
		t.Fatalf("stopped tasks %v %v, want 3", list, err)
	}
	tasks, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("production"), Tasks: list.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks.Tasks {
		if want := "Task failed ELB health checks in (target-group " + res.AlternateTargetGroupARN + ")"; aws.ToString(task.StoppedReason) != want || task.StopCode != ecstypes.TaskStopCodeServiceSchedulerInitiated || aws.ToString(task.TaskDefinitionArn) != aws.ToString(td.TaskDefinition.TaskDefinitionArn) {
			t.Errorf("task %+v, want stopped for %s", task, want)
		}
	}
	svc, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("production"), Services: []string{"web"}})
	if err != nil || aws.ToString(svc.Services[0].TaskDefinition) != res.TaskDefinitionARN || svc.Services[0].Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateFailed {
		t.Errorf("after the rollback: %+v %v", svc.Services, err)
	}
}

func TestECSThrottlingAndSignature(t *testing.T) {
	t.Parallel()
	srv, client, _ := newECS(t, awstest.BlueGreenService{})
	ctx := t.Context()
	srv.ThrottleNth("DescribeServices", 1)
	if _, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("production"), Services: []string{"web"}}); err != nil {
		t.Fatalf("the SDK retries throttling: %v", err)
	}
	calls := srv.Calls()
	if len(calls) != 2 || calls[0].ErrorCode != "ThrottlingException" || calls[0].Service != awstest.ServiceECS {
		t.Errorf("calls %+v, want a throttled one and a retry", calls)
	}
	bad := ecs.NewFromConfig(srv.ConfigWith(credentials.NewStaticCredentialsProvider(srv.Credentials().AccessKeyID, "wrong", "")))
	if _, err := bad.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{"web"}}); errorCode(err) != "InvalidSignatureException" {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestELBListenersAndLoadBalancers(t *testing.T) {
	t.Parallel()
	srv, _, res := newECS(t, awstest.BlueGreenService{})
	client := elb.NewFromConfig(srv.Config())
	ctx := t.Context()
	ls, err := client.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{res.ProductionListenerARN, res.TestListenerARN}})
	if err != nil || len(ls.Listeners) != 2 || aws.ToInt32(ls.Listeners[0].Port) != 80 || aws.ToInt32(ls.Listeners[1].Port) != 8080 || ls.Listeners[0].Protocol != elbtypes.ProtocolEnumHttp || aws.ToString(ls.Listeners[0].LoadBalancerArn) != res.LoadBalancerARN {
		t.Errorf("listeners = %+v %v", ls, err)
	}
	byLB, err := client.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(res.LoadBalancerARN)})
	if err != nil || len(byLB.Listeners) != 2 {
		t.Errorf("listeners of the load balancer = %+v %v", byLB, err)
	}
	var noListener *elbtypes.ListenerNotFoundException
	if _, err := client.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{res.ProductionListenerARN + "0"}}); !errors.As(err, &noListener) {
		t.Errorf("unknown listener: %v, want ListenerNotFoundException", err)
	}
	lbs, err := client.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{res.LoadBalancerARN}})
	if err != nil || len(lbs.LoadBalancers) != 1 || aws.ToString(lbs.LoadBalancers[0].DNSName) != res.DNSName || lbs.LoadBalancers[0].State.Code != elbtypes.LoadBalancerStateEnumActive {
		t.Errorf("load balancers = %+v %v", lbs, err)
	}
	var noLB *elbtypes.LoadBalancerNotFoundException
	if _, err := client.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{"nope"}}); !errors.As(err, &noLB) {
		t.Errorf("unknown load balancer: %v, want LoadBalancerNotFoundException", err)
	}
	bad := elb.NewFromConfig(srv.ConfigWith(credentials.NewStaticCredentialsProvider(srv.Credentials().AccessKeyID, "wrong", "")))
	if _, err := bad.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{}); errorCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v", err)
	}
}

// TestECSPauseHook: a PAUSE hook at POST_TEST_TRAFFIC_SHIFT holds the
// deployment until ContinueServiceDeployment (CONTINUE or ROLLBACK) or its
// timeout, through the real SDK client.
func TestECSPauseHook(t *testing.T) {
	t.Parallel()
	pause := func(minutes int32) *ecstypes.DeploymentConfiguration {
		c := bake(1)
		c.LifecycleHooks = []ecstypes.DeploymentLifecycleHook{{
			TargetType:           ecstypes.DeploymentLifecycleHookTargetTypePause,
			LifecycleStages:      []ecstypes.DeploymentLifecycleHookStage{ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift},
			TimeoutConfiguration: &ecstypes.DeploymentLifecycleHookTimeoutConfiguration{TimeoutInMinutes: aws.Int32(minutes), Action: ecstypes.DeploymentLifecycleHookActionRollback},
		}}
		return c
	}
	_, client, _ := newECS(t, awstest.BlueGreenService{DeploymentConfiguration: pause(120)})
	ctx := t.Context()
	deploy := func(cfg *ecstypes.DeploymentConfiguration) string {
		t.Helper()
		up, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("production"), Service: aws.String("web"), DeploymentConfiguration: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(up.Service.CurrentServiceDeployment)
	}
	awaiting := func(arn string) string {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			out, err := client.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
			if err != nil {
				t.Fatal(err)
			}
			d := out.ServiceDeployments[0]
			if len(d.LifecycleHookDetails) == 1 {
				h := d.LifecycleHookDetails[0]
				if d.Status != ecstypes.ServiceDeploymentStatusInProgress || d.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift ||
					h.Status != ecstypes.DeploymentLifecycleHookStatusAwaitingAction || h.TargetType != ecstypes.DeploymentLifecycleHookTargetTypePause || h.ExpiresAt == nil {
					t.Fatalf("paused deployment %s at %s with hook %+v", d.Status, d.LifecycleStage, h)
				}
				return aws.ToString(h.HookId)
			}
			if d.Status != ecstypes.ServiceDeploymentStatusPending && d.Status != ecstypes.ServiceDeploymentStatusInProgress {
				t.Fatalf("deployment %s without pausing", d.Status)
			}
		}
		t.Fatal("the deployment never paused")
		return ""
	}

	first := deploy(nil)
	hook := awaiting(first)
	time.Sleep(300 * time.Millisecond) // five virtual minutes: still paused
	if again := awaiting(first); again != hook {
		t.Errorf("hook id changed from %s to %s", hook, again)
	}
	var invalid *ecstypes.InvalidParameterException
	if _, err := client.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(first), HookId: aws.String("ecs-pause-nope")}); !errors.As(err, &invalid) {
		t.Errorf("unknown hook: %v, want InvalidParameterException", err)
	}
	if _, err := client.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(first), HookId: aws.String(hook), Action: ecstypes.DeploymentLifecycleHookActionContinue}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, first, ecstypes.ServiceDeploymentStatusSuccessful)
	var conflict *ecstypes.ConflictException
	if _, err := client.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(first), HookId: aws.String(hook)}); !errors.As(err, &conflict) {
		t.Errorf("continue a SUCCESSFUL deployment: %v, want ConflictException", err)
	}

	second := deploy(nil)
	hook = awaiting(second)
	if _, err := client.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(second), HookId: aws.String(hook), Action: ecstypes.DeploymentLifecycleHookActionRollback}); err != nil {
		t.Fatal(err)
	}
	d := waitStatus(t, client, second, ecstypes.ServiceDeploymentStatusRollbackSuccessful)
	if !strings.Contains(aws.ToString(d.StatusReason), "lifecycle hook") {
		t.Errorf("rollback reason %q", aws.ToString(d.StatusReason))
	}

	// Nobody answers: after its timeout (one virtual minute) ECS takes the action, ROLLBACK.
	third := deploy(pause(1))
	awaiting(third)
	waitStatus(t, client, third, ecstypes.ServiceDeploymentStatusRollbackSuccessful)
}

package awstest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	awsdeploy "github.com/pandadeploy/panda/deploy/aws"
	"github.com/pandadeploy/panda/internal/awstest"
)

// rollout is one evaluated execution of the shipped definition against a
// blue/green service of the ECS model, started and read through the real
// Step Functions client.
type rollout struct {
	srv    *awstest.Server
	client *sfn.Client
	res    awstest.BlueGreenResources
	arn    string
	spec   awstest.BlueGreenService
}

const testImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-web@sha256:abababababababababababababababababababababababababababababababab"

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
		"imageUri": testImage, "cluster": spec.Cluster, "service": spec.Service, "taskFamily": spec.Family, "containerPort": 8080,
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
	return &rollout{srv: srv, client: client, res: res, arn: aws.ToString(out.ExecutionArn), spec: spec}
}

// wait polls DescribeExecution until the execution ends, and logs the states it entered.
func (r *rollout) wait(t *testing.T) *sfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := r.client.DescribeExecution(t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(r.arn)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != sfntypes.ExecutionStatusRunning {
			t.Logf("%s; states entered: %s", out.Status, compact(r.srv.EnteredStates(r.arn)))
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution still running; states entered: %v", compact(r.srv.EnteredStates(r.arn)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// compact renders a state sequence with polling loops folded:
// "A → (B → C) ×40 → D".
func compact(states []string) string {
	var parts []string
	for i := 0; i < len(states); {
		folded := false
		for n := 1; n <= 3 && !folded; n++ {
			reps := 1
			for i+(reps+1)*n <= len(states) && slices.Equal(states[i:i+n], states[i+reps*n:i+(reps+1)*n]) {
				reps++
			}
			if reps > 1 {
				parts = append(parts, "("+strings.Join(states[i:i+n], " → ")+") ×"+itoa(reps))
				i += reps * n
				folded = true
			}
		}
		if !folded {
			parts = append(parts, states[i])
			i++
		}
	}
	return strings.Join(parts, " → ")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (r *rollout) calls(op string) []awstest.Call {
	var out []awstest.Call
	for _, c := range r.srv.Calls() {
		if c.Operation == op {
			out = append(out, c)
		}
	}
	return out
}

func (r *rollout) service(t *testing.T) awstest.ECSServiceState {
	t.Helper()
	st, ok := r.srv.ECSService(r.spec.Cluster, r.spec.Service)
	if !ok {
		t.Fatal("the service is gone")
	}
	return st
}

func (r *rollout) lastDeployment(t *testing.T) ecstypes.ServiceDeployment {
	t.Helper()
	st := r.service(t)
	if len(st.Deployments) == 0 {
		t.Fatal("no service deployment was started")
	}
	return st.Deployments[len(st.Deployments)-1]
}

func wantSucceeded(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) map[string]any {
	t.Helper()
	if end.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("execution %s: %s: %s", end.Status, aws.ToString(end.Error), aws.ToString(end.Cause))
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(end.Output)), &out); err != nil {
		t.Fatal(err)
	}
	if d := r.lastDeployment(t); d.Status != ecstypes.ServiceDeploymentStatusSuccessful {
		t.Errorf("ECS service deployment %s, want SUCCESSFUL", d.Status)
	}
	if n := len(r.calls("StopServiceDeployment")); n != 0 {
		t.Errorf("a healthy deployment was stopped %d times", n)
	}
	return out
}

func bake(minutes int32) *ecstypes.DeploymentConfiguration {
	return &ecstypes.DeploymentConfiguration{
		Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(minutes),
		DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true},
	}
}

// scenario is one run of the shipped definition; check asserts what a user
// would see. Every scenario's entered states are collected, and every state
// of the definition must be entered by one of them.
type scenario struct {
	name  string
	spec  awstest.BlueGreenService
	input map[string]any
	setup func(*awstest.Server)
	// during runs while the execution runs (e.g. to stop the deployment).
	during func(t *testing.T, r *rollout)
	check  func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput)
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "healthy_with_bake",
			spec: awstest.BlueGreenService{DeploymentConfiguration: bake(5), TaskDefinition: &ecstypes.TaskDefinition{
				ContainerDefinitions: []ecstypes.ContainerDefinition{
					{Name: aws.String("web"), Image: aws.String("old:1"), Essential: aws.Bool(true)},
					{Name: aws.String("sidecar"), Image: aws.String("envoy:1")},
				},
				NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("512"), Memory: aws.String("1024"),
				TaskRoleArn:                   aws.String("arn:aws:iam::123456789012:role/web-task"),
				TrustedExecutionConfiguration: &ecstypes.TrustedExecutionConfiguration{IsolationMode: ecstypes.IsolationModeIsolatedSandbox},
				RuntimePlatform:               &ecstypes.RuntimePlatform{CpuArchitecture: ecstypes.CPUArchitectureArm64},
			}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				out := wantSucceeded(t, r, end)
				prod := "http://" + r.res.DNSName + ":80"
				if out["productionUrl"] != prod || out["blueServiceUrl"] != prod || out["testUrl"] != "http://"+r.res.DNSName+":8080" {
					t.Errorf("URLs in the output %v, want production %s", out, prod)
				}
				if out["taskDefinitionArn"] != "arn:aws:ecs:us-east-1:123456789012:task-definition/web-task:2" || out["rolledBack"] != false {
					t.Errorf("output %v", out)
				}
				// The new revision: the image in the load balancer's
				// container only, everything else of revision 1 kept.
				td, err := ecs.NewFromConfig(r.srv.Config()).DescribeTaskDefinition(t.Context(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web-task:2"), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
				if err != nil {
					t.Fatal(err)
				}
				c := td.TaskDefinition.ContainerDefinitions
				if len(c) != 2 || aws.ToString(c[0].Image) != testImage || aws.ToString(c[1].Image) != "envoy:1" {
					t.Errorf("containers %+v", c)
				}
				if tc := td.TaskDefinition.TrustedExecutionConfiguration; tc == nil || tc.IsolationMode != ecstypes.IsolationModeIsolatedSandbox || td.TaskDefinition.RuntimePlatform == nil || aws.ToString(td.TaskDefinition.TaskRoleArn) == "" || aws.ToString(td.TaskDefinition.Cpu) != "512" {
					t.Errorf("revision 2 dropped what revision 1 had: %+v", td.TaskDefinition)
				}
				if len(td.Tags) != 2 || aws.ToString(td.Tags[1].Value) != "dep_0123456789" {
					t.Errorf("tags %+v", td.Tags)
				}
				if d := r.lastDeployment(t); aws.ToInt32(d.DeploymentConfiguration.BakeTimeInMinutes) != 5 || d.DeploymentConfiguration.Strategy != ecstypes.DeploymentStrategyBlueGreen {
					t.Errorf("deployment configuration %+v", d.DeploymentConfiguration)
				}
			},
		},
		{
			name: "unhealthy_tasks_rolled_back_by_ecs",
			spec: awstest.BlueGreenService{Scenario: awstest.ECSScenario{UnhealthyTasks: true}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				cause := aws.ToString(end.Cause)
				if end.Status != sfntypes.ExecutionStatusFailed || aws.ToString(end.Error) != "Panda.DeploymentRolledBack" ||
					!strings.Contains(cause, "Task failed ELB health checks in (target-group "+r.res.AlternateTargetGroupARN+")") ||
					!strings.Contains(cause, "ended ROLLBACK_SUCCESSFUL") || !strings.Contains(cause, "circuit breaker") {
					t.Errorf("execution %s %s: %s", end.Status, aws.ToString(end.Error), cause)
				}
				if st := r.service(t); st.TaskDefinition != r.res.TaskDefinitionARN {
					t.Errorf("after the rollback the service runs %s, want %s", st.TaskDefinition, r.res.TaskDefinitionARN)
				}
				// ECS rolled back by itself; Panda awaited it, it did not stop it.
				if n := len(r.calls("StopServiceDeployment")); n != 0 {
					t.Errorf("%d StopServiceDeployment calls, want 0", n)
				}
			},
		},
		{
			name: "image_pull_fails",
			spec: awstest.BlueGreenService{Scenario: awstest.ECSScenario{ImagePullFails: true}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				if cause := aws.ToString(end.Cause); end.Status != sfntypes.ExecutionStatusFailed || !strings.Contains(cause, "CannotPullContainerError: ") || !strings.Contains(cause, testImage) {
					t.Errorf("execution %s: %s", end.Status, cause)
				}
			},
		},
		{
			name: "rollback_fails",
			spec: awstest.BlueGreenService{Scenario: awstest.ECSScenario{UnhealthyTasks: true, RollbackFails: true}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				if cause := aws.ToString(end.Cause); end.Status != sfntypes.ExecutionStatusFailed || !strings.Contains(cause, "ended ROLLBACK_FAILED") || !strings.Contains(cause, "The rollback failed too: Ecs.RollbackFailed") {
					t.Errorf("execution %s: %s", end.Status, cause)
				}
			},
		},
		{
			// The old loop gave up after 108 polls of 15 s (27 minutes) and
			// rolled back; a 30-minute bake is healthy and must succeed.
			name: "long_bake_not_rolled_back",
			spec: awstest.BlueGreenService{DeploymentConfiguration: bake(30)},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				wantSucceeded(t, r, end)
				// Virtual time: the wall-clock duration at the server's scale.
				if took := end.StopDate.Sub(*end.StartDate).Seconds() * awstest.DefaultTimeScale; took < 30*60 {
					t.Errorf("the execution took %.0f virtual seconds, less than the 30-minute bake", took)
				}
			},
		},
		{
			// No circuit breaker: ECS keeps replacing failing tasks; once the
			// bake time and hooks are past, Panda rolls back and awaits it.
			name: "stuck_deployment_rolled_back_by_panda",
			spec: awstest.BlueGreenService{DeploymentConfiguration: &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(0)},
				Scenario: awstest.ECSScenario{UnhealthyTasks: true}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				if cause := aws.ToString(end.Cause); end.Status != sfntypes.ExecutionStatusFailed || aws.ToString(end.Error) != "Panda.DeploymentTimedOut" || !strings.Contains(cause, "ended ROLLBACK_SUCCESSFUL") {
					t.Errorf("execution %s %s: %s", end.Status, aws.ToString(end.Error), cause)
				}
				stops := r.calls("StopServiceDeployment")
				if len(stops) != 1 || !strings.Contains(string(stops[0].Input), `"StopType":"ROLLBACK"`) {
					t.Errorf("StopServiceDeployment calls %+v, want one ROLLBACK", stops)
				}
				if d := r.lastDeployment(t); d.Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful {
					t.Errorf("ECS deployment %s", d.Status)
				}
			},
		},
		{
			name: "empty_current_service_deployment",
			spec: awstest.BlueGreenService{Scenario: awstest.ECSScenario{EmptyCurrentDeployment: 1, UnlistedReads: 2}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				out := wantSucceeded(t, r, end)
				if d := r.lastDeployment(t); out["serviceDeploymentArn"] != aws.ToString(d.ServiceDeploymentArn) {
					t.Errorf("serviceDeploymentArn %v, want %s", out["serviceDeploymentArn"], aws.ToString(d.ServiceDeploymentArn))
				}
				if n := len(r.calls("ListServiceDeployments")); n != 3 {
					t.Errorf("%d ListServiceDeployments calls, want 3 (two lists without it)", n)
				}
			},
		},
		{
			name:  "throttled_status_read_retried",
			setup: func(s *awstest.Server) { s.ThrottleNth("DescribeServiceDeployments", 3) },
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				wantSucceeded(t, r, end)
				reads := r.calls("DescribeServiceDeployments")
				if len(reads) < 4 || reads[2].ErrorCode != "ThrottlingException" {
					t.Errorf("status reads %d, third answered %q", len(reads), reads[2].ErrorCode)
				}
				found := false
				for _, e := range history(t, r.client, r.arn) {
					if d := e.TaskFailedEventDetails; d != nil && aws.ToString(d.Error) == "Ecs.EcsException" && strings.Contains(aws.ToString(d.Cause), "Rate exceeded (Service: Ecs, Status Code: 400") {
						found = true
					}
				}
				if !found {
					t.Error("no TaskFailed Ecs.EcsException for the throttled read in the history")
				}
			},
		},
		{
			name: "unknown_deployment_on_first_reads",
			spec: awstest.BlueGreenService{Scenario: awstest.ECSScenario{UnknownDeploymentReads: 2}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				wantSucceeded(t, r, end)
			},
		},
		{
			name: "deployment_never_known_rolled_back",
			spec: awstest.BlueGreenService{Scenario: awstest.ECSScenario{UnknownDeploymentReads: 1000}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				if end.Status != sfntypes.ExecutionStatusFailed || aws.ToString(end.Error) != "Panda.DeploymentNotFound" || len(r.calls("StopServiceDeployment")) != 1 {
					t.Errorf("execution %s %s: %s", end.Status, aws.ToString(end.Error), aws.ToString(end.Cause))
				}
			},
		},
		{
			name:  "desired_count_omitted_keeps_three",
			spec:  awstest.BlueGreenService{DesiredCount: 3},
			input: map[string]any{"desiredCount": nil},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				wantSucceeded(t, r, end)
				if st := r.service(t); st.DesiredCount != 3 || r.lastDeployment(t).TargetServiceRevision.RequestedTaskCount != 3 {
					t.Errorf("desired count %d, want 3", st.DesiredCount)
				}
				if u := r.calls("UpdateService"); len(u) != 1 || strings.Contains(string(u[0].Input), "DesiredCount") {
					t.Errorf("UpdateService %s, want no DesiredCount", u[0].Input)
				}
			},
		},
		{
			name:  "desired_count_explicit_applies",
			spec:  awstest.BlueGreenService{DesiredCount: 3},
			input: map[string]any{"desiredCount": 5},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				wantSucceeded(t, r, end)
				if st := r.service(t); st.DesiredCount != 5 {
					t.Errorf("desired count %d, want 5", st.DesiredCount)
				}
			},
		},
		{
			// A hook keeps the test traffic shift going for 10 virtual
			// minutes; someone stops the deployment with ROLLBACK meanwhile.
			name: "stopped_mid_traffic_shift",
			spec: awstest.BlueGreenService{
				DeploymentConfiguration: &ecstypes.DeploymentConfiguration{
					Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(5),
					LinearConfiguration: &ecstypes.LinearConfiguration{StepPercent: aws.Float64(10)}, // leftover: must not be sent with BLUE_GREEN
					LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{
						HookTargetArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:smoke"), RoleArn: aws.String("arn:aws:iam::123456789012:role/hooks"),
						LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{ecstypes.DeploymentLifecycleHookStageTestTrafficShift},
					}},
				},
				Scenario: awstest.ECSScenario{HookSeconds: 600},
			},
			during: func(t *testing.T, r *rollout) {
				client := ecs.NewFromConfig(r.srv.Config())
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					st := r.service(t)
					if n := len(st.Deployments); n > 0 && st.Deployments[n-1].LifecycleStage == ecstypes.ServiceDeploymentLifecycleStageTestTrafficShift {
						if _, err := client.StopServiceDeployment(t.Context(), &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: st.Deployments[n-1].ServiceDeploymentArn, StopType: ecstypes.StopServiceDeploymentStopTypeRollback}); err != nil {
							t.Fatal(err)
						}
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				t.Fatal("the deployment never reached TEST_TRAFFIC_SHIFT")
			},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				if cause := aws.ToString(end.Cause); end.Status != sfntypes.ExecutionStatusFailed || !strings.Contains(cause, "ended ROLLBACK_SUCCESSFUL") {
					t.Errorf("execution %s: %s", end.Status, cause)
				}
				d := r.lastDeployment(t)
				if d.Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful || d.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStageTestTrafficShift {
					t.Errorf("ECS deployment %s in %s", d.Status, d.LifecycleStage)
				}
				if d.DeploymentConfiguration.LinearConfiguration != nil {
					t.Error("UpdateService sent the Linear configuration with BLUE_GREEN")
				}
			},
		},
		{
			name: "container_exits_rolled_back",
			spec: awstest.BlueGreenService{DeploymentConfiguration: bake(5), Scenario: awstest.ECSScenario{ContainerExitCode: 137}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				if cause := aws.ToString(end.Cause); end.Status != sfntypes.ExecutionStatusFailed || !strings.Contains(cause, "Stopped tasks: Essential container in task exited (web exit code 137).") {
					t.Errorf("execution %s: %s; want the exit code among the stopped tasks", end.Status, cause)
				}
			},
		},
		{
			name:  "health_check_passes",
			spec:  awstest.BlueGreenService{DeploymentConfiguration: bake(5), TestTraffic: answer(http.StatusOK, "ok")},
			input: map[string]any{"healthCheck": map[string]any{"path": "/healthz"}},
			setup: addHealthCheckFunction,
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				wantSucceeded(t, r, end)
				if hooks := updateHooks(t, r); len(hooks) != 1 || hooks[0].TargetType != ecstypes.DeploymentLifecycleHookTargetTypePause {
					t.Errorf("UpdateService lifecycle hooks %+v, want one PAUSE hook", hooks)
				}
				cont := r.calls("ContinueServiceDeployment")
				if len(cont) != 1 || !strings.Contains(string(cont[0].Input), `"Action":"CONTINUE"`) {
					t.Errorf("ContinueServiceDeployment calls %v, want one CONTINUE", cont)
				}
				if n := len(r.calls("Invoke")); n != 1 {
					t.Errorf("the health-check function was invoked %d times", n)
				}
			},
		},
		{
			name:  "health_check_fails_rolled_back",
			spec:  awstest.BlueGreenService{DeploymentConfiguration: bake(5), TestTraffic: answer(http.StatusServiceUnavailable, "database unreachable")},
			input: map[string]any{"healthCheck": map[string]any{"path": "/healthz", "attempts": 2, "timeoutSeconds": 2}},
			setup: addHealthCheckFunction,
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				cause := aws.ToString(end.Cause)
				want := "GET http://" + r.res.DNSName + ":8080/healthz answered 503 (expected 200) after 2 attempt(s): database unreachable."
				if end.Status != sfntypes.ExecutionStatusFailed || aws.ToString(end.Error) != "Panda.HealthCheckFailed" || !strings.Contains(cause, want) {
					t.Errorf("execution %s %s: %s; want the probe's answer %q", end.Status, aws.ToString(end.Error), cause, want)
				}
				if d := r.lastDeployment(t); d.Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful {
					t.Errorf("ECS service deployment %s, want ROLLBACK_SUCCESSFUL", d.Status)
				}
				if st := r.service(t); st.TaskDefinition != r.res.TaskDefinitionARN {
					t.Errorf("the service runs %s, want the previous %s", st.TaskDefinition, r.res.TaskDefinitionARN)
				}
				cont := r.calls("ContinueServiceDeployment")
				if len(cont) != 1 || !strings.Contains(string(cont[0].Input), `"Action":"ROLLBACK"`) {
					t.Errorf("ContinueServiceDeployment calls %v, want one ROLLBACK", cont)
				}
			},
		},
		{
			name:   "approval_continued",
			spec:   awstest.BlueGreenService{DeploymentConfiguration: bake(5), TestTraffic: answer(http.StatusOK, "ok")},
			input:  map[string]any{"approval": map[string]any{"timeoutMinutes": 30}},
			during: answerApproval(ecstypes.DeploymentLifecycleHookActionContinue),
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				wantSucceeded(t, r, end)
				hooks := updateHooks(t, r)
				if len(hooks) != 1 || hooks[0].TargetType != ecstypes.DeploymentLifecycleHookTargetTypePause || aws.ToInt32(hooks[0].TimeoutConfiguration.TimeoutInMinutes) != 45 {
					t.Errorf("UpdateService lifecycle hooks %+v, want one PAUSE hook of 30+15 minutes", hooks)
				}
				if n := len(r.calls("ContinueServiceDeployment")); n != 1 {
					t.Errorf("%d ContinueServiceDeployment calls, want only the approver's", n)
				}
			},
		},
		{
			name:   "health_check_then_approval_rejected",
			spec:   awstest.BlueGreenService{DeploymentConfiguration: bake(5), TestTraffic: answer(http.StatusOK, "ok")},
			input:  map[string]any{"healthCheck": map[string]any{"path": "/healthz"}, "approval": map[string]any{"timeoutMinutes": 60}},
			setup:  addHealthCheckFunction,
			during: answerApproval(ecstypes.DeploymentLifecycleHookActionRollback),
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				if end.Status != sfntypes.ExecutionStatusFailed || aws.ToString(end.Error) != "Panda.DeploymentRolledBack" {
					t.Errorf("execution %s %s: %s; want Panda.DeploymentRolledBack", end.Status, aws.ToString(end.Error), aws.ToString(end.Cause))
				}
				if d := r.lastDeployment(t); d.Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful {
					t.Errorf("ECS service deployment %s, want ROLLBACK_SUCCESSFUL", d.Status)
				}
				if st := r.service(t); st.TaskDefinition != r.res.TaskDefinitionARN {
					t.Errorf("the service runs %s, want the previous %s", st.TaskDefinition, r.res.TaskDefinitionARN)
				}
				// The probe passed, so the definition itself never answered the hook.
				if n := len(r.calls("Invoke")); n != 1 {
					t.Errorf("the health-check function was invoked %d times", n)
				}
				if cont := r.calls("ContinueServiceDeployment"); len(cont) != 1 {
					t.Errorf("ContinueServiceDeployment calls %v, want only the reject", cont)
				}
			},
		},
		{
			name:  "health_check_function_missing_rolled_back",
			spec:  awstest.BlueGreenService{DeploymentConfiguration: bake(5), TestTraffic: answer(http.StatusOK, "ok")},
			input: map[string]any{"healthCheck": map[string]any{"path": "/"}},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				if end.Status != sfntypes.ExecutionStatusFailed || aws.ToString(end.Error) != "Lambda.ResourceNotFoundException" || !strings.HasPrefix(aws.ToString(end.Cause), "HealthCheck failed: ") {
					t.Errorf("execution %s %s: %s", end.Status, aws.ToString(end.Error), aws.ToString(end.Cause))
				}
				if d := r.lastDeployment(t); d.Status != ecstypes.ServiceDeploymentStatusRollbackSuccessful {
					t.Errorf("ECS service deployment %s, want ROLLBACK_SUCCESSFUL", d.Status)
				}
			},
		},
		{
			name: "earlier_pause_hook_dropped",
			spec: awstest.BlueGreenService{DeploymentConfiguration: func() *ecstypes.DeploymentConfiguration {
				c := bake(5)
				c.LifecycleHooks = []ecstypes.DeploymentLifecycleHook{{TargetType: ecstypes.DeploymentLifecycleHookTargetTypePause,
					LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift}}}
				return c
			}()},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				wantSucceeded(t, r, end)
				if hooks := updateHooks(t, r); len(hooks) != 0 {
					t.Errorf("UpdateService kept lifecycle hooks %+v; without health_check Panda's PAUSE hook goes", hooks)
				}
			},
		},
		{
			name:  "service_missing",
			spec:  awstest.BlueGreenService{Cluster: "production", Service: "api", Family: "api-task"},
			input: map[string]any{"service": "web"},
			check: func(t *testing.T, r *rollout, end *sfn.DescribeExecutionOutput) {
				if end.Status != sfntypes.ExecutionStatusFailed || aws.ToString(end.Error) != "Panda.ServiceNotFound" || len(r.calls("UpdateService")) != 0 {
					t.Errorf("execution %s %s: %s", end.Status, aws.ToString(end.Error), aws.ToString(end.Cause))
				}
			},
		},
	}
}

// TestShippedDefinitionScenarios runs deploy/aws/bluegreen.asl.json as Step
// Functions would against the ECS model, one scenario at a time, and checks
// that together they enter every state of the definition.
func TestShippedDefinitionScenarios(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	entered := map[string]bool{}
	t.Run("group", func(t *testing.T) {
		for _, sc := range scenarios() {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				setup := []func(*awstest.Server){}
				if sc.setup != nil {
					setup = append(setup, sc.setup)
				}
				r := startRollout(t, sc.spec, sc.input, setup...)
				if sc.during != nil {
					sc.during(t, r)
				}
				end := r.wait(t)
				sc.check(t, r, end)
				mu.Lock()
				defer mu.Unlock()
				for _, s := range r.srv.EnteredStates(r.arn) {
					entered[s] = true
				}
			})
		}
	})
	var def struct {
		States map[string]json.RawMessage `json:"States"`
	}
	if err := json.Unmarshal(awsdeploy.BlueGreenDefinition(), &def); err != nil {
		t.Fatal(err)
	}
	var missed []string
	for name := range def.States {
		if !entered[name] {
			missed = append(missed, name)
		}
	}
	sort.Strings(missed)
	if len(missed) > 0 && !t.Failed() {
		t.Errorf("no scenario entered %v", missed)
	}
	t.Logf("states entered by the scenarios: %d of %d", len(entered), len(def.States))
}

// answer is a test listener that answers every request with status and body.
func answer(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

// addHealthCheckFunction installs the health-check function's Go twin under
// the name the definition derives from the state machine's.
func addHealthCheckFunction(srv *awstest.Server) {
	srv.AddLambda("arn:aws:lambda:"+srv.Region()+":"+srv.Account()+":function:panda-bluegreen-health-check", srv.HealthCheckFunction())
}

// answerApproval plays Panda's part in an approval: it waits for the
// AwaitApproval state's output in the history, as Panda's follow task reads
// it, and answers the PAUSE hook it names with action.
func answerApproval(action ecstypes.DeploymentLifecycleHookAction) func(*testing.T, *rollout) {
	return func(t *testing.T, r *rollout) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			h, err := r.client.GetExecutionHistory(t.Context(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(r.arn), MaxResults: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range h.Events {
				d := e.StateExitedEventDetails
				if d == nil || aws.ToString(d.Name) != "AwaitApproval" {
					continue
				}
				var out struct{ HookID, ServiceDeploymentArn, TestURL string }
				if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
					t.Fatal(err)
				}
				if want := "http://" + r.res.DNSName + ":8080"; out.TestURL != want || out.HookID == "" {
					t.Fatalf("AwaitApproval output %s, want a hook id and the test URL %s", aws.ToString(d.Output), want)
				}
				_, err := ecs.NewFromConfig(r.srv.Config()).ContinueServiceDeployment(t.Context(), &ecs.ContinueServiceDeploymentInput{
					ServiceDeploymentArn: aws.String(out.ServiceDeploymentArn), HookId: aws.String(out.HookID), Action: action,
				})
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("the execution never reached AwaitApproval")
	}
}

// updateHooks returns the lifecycle hooks the execution's UpdateService sent.
func updateHooks(t *testing.T, r *rollout) []ecstypes.DeploymentLifecycleHook {
	t.Helper()
	calls := r.calls("UpdateService")
	if len(calls) != 1 {
		t.Fatalf("%d UpdateService calls", len(calls))
	}
	var in struct {
		DeploymentConfiguration struct {
			LifecycleHooks []ecstypes.DeploymentLifecycleHook
		}
	}
	if err := json.Unmarshal(calls[0].Input, &in); err != nil {
		t.Fatal(err)
	}
	return in.DeploymentConfiguration.LifecycleHooks
}

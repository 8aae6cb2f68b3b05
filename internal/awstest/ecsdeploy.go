package awstest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Virtual durations (seconds) of what ECS does in a blue/green service
// deployment. ECS documents the stages ("Amazon ECS blue/green deployments",
// developer guide: the lifecycle stages RECONCILE_SERVICE … CLEAN_UP and the
// bake time), not how long they take; these are plausible and short.
const (
	pendingSecs      = 5  // PENDING before the first stage
	stageSecs        = 10 // a stage with work but no hooks (reconcile, traffic shifts)
	scaleUpSecs      = 60 // the green tasks start and pass health checks
	cleanUpSecs      = 30 // the blue tasks drain and stop
	taskFailSecs     = 20 // between two failing green tasks
	rollbackReqSecs  = 5  // ROLLBACK_REQUESTED / STOP_REQUESTED before the work starts
	rollbackWorkSecs = 30 // traffic back to blue, green tasks stopped
	defaultHookSecs  = 30 // one Lambda hook callback delay (developer guide, "Lambda hooks": 30 s by default)
)

// serviceDeployment is one ECS service deployment. Its status is computed
// from the virtual time elapsed since it started, so it progresses without
// goroutines, at the server's time scale.
type serviceDeployment struct {
	arn, serviceARN, clusterARN string
	id                          string
	start                       time.Time
	source, target              string // task definition ARNs
	// sourceRev and targetRev are the service revisions' ARNs (ECS API
	// reference, ServiceRevisionSummary.arn: "The ARN of the service revision").
	sourceRev, targetRev string
	desired              int32
	config               ecstypes.DeploymentConfiguration
	scenario             ECSScenario
	stages               []stageSpan
	// failAt is the virtual second at which ECS's failure detection stops
	// the deployment (circuit breaker threshold reached), or -1.
	failAt float64
	// stopAt is the virtual second a StopServiceDeployment(ROLLBACK) was
	// accepted, or -1.
	stopAt      float64
	stopReason  string // the statusReason of a rollback stopAt started, if not a StopServiceDeployment's
	unknownLeft int    // DescribeServiceDeployments reads still answered MISSING
	hooks       []ecstypes.DeploymentLifecycleHook
	finished    bool // settle applied the terminal state to the service
	// pause is the deployment's PAUSE hook at POST_TEST_TRAFFIC_SHIFT, if
	// any; hookID its id. The deployment waits at pauseStart (virtual
	// seconds) until ContinueServiceDeployment or the hook's timeout, at
	// resumeAt (-1 until then). All other times of the deployment are
	// "effective" ones, which do not advance while it is paused.
	pause      *ecstypes.DeploymentLifecycleHook
	hookID     string
	pauseStart float64
	resumeAt   float64
}

// The PAUSE hook. Developer guide, "Pause hooks for Amazon ECS service
// deployments": at a stage with a pause hook the deployment waits, the hook
// AWAITING_ACTION in DescribeServiceDeployments' lifecycleHookDetails, until
// ContinueServiceDeployment with its hookId and CONTINUE or ROLLBACK, or
// until its timeout, when ECS takes the timeout action (ECS API reference,
// DeploymentLifecycleHookTimeoutConfiguration: timeoutInMinutes default 1440,
// action default ROLLBACK). Only POST_TEST_TRAFFIC_SHIFT pause hooks are
// modelled; a pause hook elsewhere is refused by UpdateService here.

// pauseTimeout is the pause hook's timeout in virtual seconds and its action.
func (d *serviceDeployment) pauseTimeout() (float64, ecstypes.DeploymentLifecycleHookAction) {
	mins, action := float64(1440), ecstypes.DeploymentLifecycleHookActionRollback
	if tc := d.pause.TimeoutConfiguration; tc != nil {
		if tc.TimeoutInMinutes != nil {
			mins = float64(*tc.TimeoutInMinutes)
		}
		if tc.Action != "" {
			action = tc.Action
		}
	}
	return mins * 60, action
}

// awaiting reports whether the pause hook awaits an action at raw virtual second v.
func (d *serviceDeployment) awaiting(v float64) bool {
	return d.pause != nil && d.resumeAt < 0 && v >= d.pauseStart
}

// expire applies the pause hook's timeout action once raw second v is past it.
func (d *serviceDeployment) expire(v float64) {
	if !d.awaiting(v) {
		return
	}
	timeout, action := d.pauseTimeout()
	if v >= d.pauseStart+timeout {
		d.resume(d.pauseStart+timeout, action)
	}
}

// resume ends the pause at raw second v with action.
func (d *serviceDeployment) resume(v float64, action ecstypes.DeploymentLifecycleHookAction) {
	d.resumeAt = v
	if action == ecstypes.DeploymentLifecycleHookActionRollback {
		d.stopAt = d.pauseStart
		d.stopReason = "Service deployment rolled back because a lifecycle hook asked for a rollback."
	}
}

// effective turns raw virtual second v into the deployment's own time, which
// stands still while the pause hook waits.
func (d *serviceDeployment) effective(v float64) float64 {
	switch {
	case d.pause == nil || v < d.pauseStart:
		return v
	case d.resumeAt < 0 || v < d.resumeAt:
		return d.pauseStart
	}
	return v - (d.resumeAt - d.pauseStart)
}

type stageSpan struct {
	stage      ecstypes.ServiceDeploymentLifecycleStage
	start, end float64
}

// rawElapsed is the virtual time since the deployment started.
func (s *Server) rawElapsed(d *serviceDeployment, now time.Time) float64 {
	return now.Sub(d.start).Seconds() * s.timeScale
}

// elapsed is the deployment's effective time (see effective) by now.
func (s *Server) elapsed(d *serviceDeployment, now time.Time) float64 {
	v := s.rawElapsed(d, now)
	d.expire(v)
	return d.effective(v)
}

// view is the deployment's status, lifecycle stage and status reason at
// virtual second v. ECS API reference, ServiceDeployment.status: PENDING |
// SUCCESSFUL | STOPPED | STOP_REQUESTED | IN_PROGRESS | ROLLBACK_REQUESTED |
// ROLLBACK_IN_PROGRESS | ROLLBACK_SUCCESSFUL | ROLLBACK_FAILED.
func (d *serviceDeployment) view(v float64) (ecstypes.ServiceDeploymentStatus, ecstypes.ServiceDeploymentLifecycleStage, string) {
	stopAt, reason, rollback := d.stopAt, "Service deployment rolled back because of a StopServiceDeployment request.", true
	if d.stopReason != "" {
		reason = d.stopReason
	}
	if d.failAt >= 0 && (stopAt < 0 || d.failAt < stopAt) {
		stopAt = d.failAt
		cb := d.config.DeploymentCircuitBreaker
		rollback = cb.Rollback
		reason = "Service deployment rolled back because the circuit breaker threshold was exceeded."
		if !rollback {
			reason = "Service deployment stopped because the circuit breaker threshold was exceeded."
		}
	}
	if stopAt >= 0 && v >= stopAt {
		stage := d.stageAt(stopAt)
		switch {
		case !rollback && v < stopAt+rollbackReqSecs:
			return ecstypes.ServiceDeploymentStatusStopRequested, stage, reason
		case !rollback:
			return ecstypes.ServiceDeploymentStatusStopped, stage, reason
		case v < stopAt+rollbackReqSecs:
			return ecstypes.ServiceDeploymentStatusRollbackRequested, stage, reason
		case v < stopAt+rollbackReqSecs+rollbackWorkSecs:
			return ecstypes.ServiceDeploymentStatusRollbackInProgress, stage, reason
		case d.scenario.RollbackFails:
			return ecstypes.ServiceDeploymentStatusRollbackFailed, stage, reason + " The rollback failed."
		}
		return ecstypes.ServiceDeploymentStatusRollbackSuccessful, stage, reason
	}
	if v < pendingSecs {
		return ecstypes.ServiceDeploymentStatusPending, "", ""
	}
	if d.pause != nil && d.resumeAt < 0 && v >= d.pauseStart {
		return ecstypes.ServiceDeploymentStatusInProgress, ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift, ""
	}
	// Without a circuit breaker nothing detects the failing tasks: ECS keeps
	// replacing them and the deployment stays in SCALE_UP (developer guide,
	// "Amazon ECS deployment circuit breaker": without it, a deployment
	// whose tasks keep failing does not end by itself).
	if scaleUp := d.span(ecstypes.ServiceDeploymentLifecycleStageScaleUp); d.scenario.failing() && d.failAt < 0 && v >= scaleUp.start {
		return ecstypes.ServiceDeploymentStatusInProgress, ecstypes.ServiceDeploymentLifecycleStageScaleUp, ""
	}
	last := d.stages[len(d.stages)-1]
	if v >= last.end {
		return ecstypes.ServiceDeploymentStatusSuccessful, ecstypes.ServiceDeploymentLifecycleStageCleanUp, ""
	}
	return ecstypes.ServiceDeploymentStatusInProgress, d.stageAt(v), ""
}

func (d *serviceDeployment) stageAt(v float64) ecstypes.ServiceDeploymentLifecycleStage {
	for _, sp := range d.stages {
		if v < sp.end {
			return sp.stage
		}
	}
	return d.stages[len(d.stages)-1].stage
}

func (d *serviceDeployment) span(stage ecstypes.ServiceDeploymentLifecycleStage) stageSpan {
	for _, sp := range d.stages {
		if sp.stage == stage {
			return sp
		}
	}
	return stageSpan{}
}

// plan lays out the stages: each stage's own work plus, for every lifecycle
// hook registered for it, the hook's run time. A PRE_PRODUCTION_TRAFFIC_SHIFT
// hook runs at the start of PRODUCTION_TRAFFIC_SHIFT (the stage enum has no
// PRE_PRODUCTION_TRAFFIC_SHIFT; the hook stage enum has).
func (d *serviceDeployment) plan() {
	hookSecs := float64(d.scenario.HookSeconds)
	if hookSecs == 0 {
		hookSecs = defaultHookSecs
	}
	hooksAt := func(stages ...ecstypes.DeploymentLifecycleHookStage) float64 {
		n := 0.0
		for _, h := range d.hooks {
			if h.TargetType == ecstypes.DeploymentLifecycleHookTargetTypePause {
				continue // it waits for an action, not for a callback
			}
			for _, st := range stages {
				if slices.Contains(h.LifecycleStages, st) {
					n++
				}
			}
		}
		return n * hookSecs
	}
	bake := float64(aws.ToInt32(d.config.BakeTimeInMinutes)) * 60
	steps := []struct {
		stage ecstypes.ServiceDeploymentLifecycleStage
		secs  float64
	}{
		{ecstypes.ServiceDeploymentLifecycleStageReconcileService, stageSecs + hooksAt(ecstypes.DeploymentLifecycleHookStageReconcileService)},
		{ecstypes.ServiceDeploymentLifecycleStagePreScaleUp, hooksAt(ecstypes.DeploymentLifecycleHookStagePreScaleUp)},
		{ecstypes.ServiceDeploymentLifecycleStageScaleUp, scaleUpSecs},
		{ecstypes.ServiceDeploymentLifecycleStagePostScaleUp, hooksAt(ecstypes.DeploymentLifecycleHookStagePostScaleUp)},
		{ecstypes.ServiceDeploymentLifecycleStageTestTrafficShift, stageSecs + hooksAt(ecstypes.DeploymentLifecycleHookStageTestTrafficShift)},
		{ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift, hooksAt(ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift)},
		{ecstypes.ServiceDeploymentLifecycleStageProductionTrafficShift, stageSecs + hooksAt(ecstypes.DeploymentLifecycleHookStagePreProductionTrafficShift, ecstypes.DeploymentLifecycleHookStageProductionTrafficShift)},
		{ecstypes.ServiceDeploymentLifecycleStagePostProductionTrafficShift, hooksAt(ecstypes.DeploymentLifecycleHookStagePostProductionTrafficShift)},
		{ecstypes.ServiceDeploymentLifecycleStageBakeTime, bake},
		{ecstypes.ServiceDeploymentLifecycleStageCleanUp, cleanUpSecs},
	}
	at := float64(pendingSecs)
	for _, st := range steps {
		d.stages = append(d.stages, stageSpan{stage: st.stage, start: at, end: at + st.secs})
		at += st.secs
	}
	d.resumeAt = -1
	for i, h := range d.hooks {
		if h.TargetType == ecstypes.DeploymentLifecycleHookTargetTypePause {
			d.pause = &d.hooks[i]
			d.hookID = "ecs-pause-" + randomAlnum(43)
			d.pauseStart = d.span(ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift).start
		}
	}
	d.failAt = -1
	if d.scenario.failing() {
		if cb := d.config.DeploymentCircuitBreaker; cb != nil && cb.Enable {
			d.failAt = d.span(ecstypes.ServiceDeploymentLifecycleStageScaleUp).start + float64(circuitBreakerThreshold(d.desired))*taskFailSecs
		}
	}
}

// circuitBreakerThreshold is the number of failed tasks that trips the
// deployment circuit breaker. Developer guide, "How the Amazon ECS deployment
// circuit breaker detects failures": the threshold is 50% of the desired
// count, at least 3 and at most 200 (ThresholdConfiguration can change the
// percentage; not modelled).
func circuitBreakerThreshold(desired int32) int32 {
	return min(max((desired+1)/2, 3), 200)
}

// updateService starts a service deployment. ECS API reference, UpdateService.
func (s *Server) updateService(in *ecs.UpdateServiceInput) (*ecs.UpdateServiceOutput, *apiError) {
	c, svc, aerr := s.service(in.Cluster, in.Service)
	if aerr != nil {
		return nil, aerr
	}
	if aws.ToString(svc.svc.Status) != "ACTIVE" {
		return nil, ecsErr("ServiceNotActiveException", "Service was not ACTIVE.")
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, ecsErr("InvalidParameterException", "DesiredCount must be at least 0.")
	}
	target := aws.ToString(svc.svc.TaskDefinition)
	if in.TaskDefinition != nil {
		td, _, aerr := s.taskDefinition(*in.TaskDefinition)
		if aerr != nil {
			return nil, ecsErr("InvalidParameterException", "TaskDefinition not found.")
		}
		target = aws.ToString(td.TaskDefinitionArn)
	}
	cfg := ecstypes.DeploymentConfiguration{}
	if svc.svc.DeploymentConfiguration != nil {
		cfg = *svc.svc.DeploymentConfiguration
	}
	if in.DeploymentConfiguration != nil {
		cfg = *in.DeploymentConfiguration
	}
	if aerr := s.checkDeploymentConfiguration(svc, cfg); aerr != nil {
		return nil, aerr
	}
	now := s.ecsNow()
	s.settle(svc, now)
	if in.DesiredCount != nil {
		svc.svc.DesiredCount = *in.DesiredCount
	}
	svc.svc.DeploymentConfiguration = &cfg
	source := aws.ToString(svc.svc.TaskDefinition)
	svc.svc.TaskDefinition = aws.String(target)
	id := randomDigits(19)
	d := &serviceDeployment{
		arn:         "arn:aws:ecs:" + s.region + ":" + s.account + ":service-deployment/" + c.name + "/" + aws.ToString(svc.svc.ServiceName) + "/" + randomAlnum(22),
		serviceARN:  aws.ToString(svc.svc.ServiceArn),
		clusterARN:  c.arn,
		id:          "ecs-svc/" + id,
		start:       now,
		source:      source,
		target:      target,
		desired:     svc.svc.DesiredCount,
		config:      cfg,
		scenario:    svc.scenario,
		stopAt:      -1,
		unknownLeft: svc.scenario.UnknownDeploymentReads,
		hooks:       cfg.LifecycleHooks,
	}
	revPrefix := "arn:aws:ecs:" + s.region + ":" + s.account + ":service-revision/" + c.name + "/" + aws.ToString(svc.svc.ServiceName) + "/"
	d.targetRev = revPrefix + randomDigits(19)
	d.sourceRev = svc.revision
	if d.sourceRev == "" {
		d.sourceRev = revPrefix + randomDigits(19)
	}
	svc.revision = d.targetRev
	d.plan()
	svc.deployments = append(svc.deployments, d)
	svc.svc.CurrentServiceDeployment = aws.String(d.arn)
	svc.emptyReads = svc.scenario.EmptyCurrentDeployment
	svc.unlistedReads = svc.scenario.UnlistedReads
	svc.svc.Deployments = []ecstypes.Deployment{{
		Id: aws.String(d.id), Status: aws.String("PRIMARY"), TaskDefinition: aws.String(target), DesiredCount: d.desired,
		RolloutState: ecstypes.DeploymentRolloutStateInProgress, CreatedAt: &now, UpdatedAt: &now,
	}}
	s.serviceEvent(svc, now, fmt.Sprintf("(service %s) has started a service deployment (deployment %s).", aws.ToString(svc.svc.ServiceName), d.id))
	return &ecs.UpdateServiceOutput{Service: ptr(s.serviceView(svc, now))}, nil
}

func ptr[T any](v T) *T { return &v }

// checkDeploymentConfiguration refuses what ECS refuses in a deployment
// configuration (ECS API reference, DeploymentConfiguration).
func (s *Server) checkDeploymentConfiguration(svc *ecsService, cfg ecstypes.DeploymentConfiguration) *apiError {
	if b := cfg.BakeTimeInMinutes; b != nil && (*b < 0 || *b > 1440) {
		// bakeTimeInMinutes: "Valid Range: Minimum value of 0. Maximum value of 1440."
		return ecsErr("InvalidParameterException", "bakeTimeInMinutes must be between 0 and 1440.")
	}
	// Strategy: the aws-sdk-go-v2 ecs/types DeploymentStrategy enum.
	switch cfg.Strategy {
	case "", ecstypes.DeploymentStrategyRolling, ecstypes.DeploymentStrategyBlueGreen, ecstypes.DeploymentStrategyLinear, ecstypes.DeploymentStrategyCanary:
	default:
		return ecsErr("InvalidParameterException", "Invalid deployment strategy "+string(cfg.Strategy)+".")
	}
	// linearConfiguration / canaryConfiguration: "Configuration for linear
	// deployment strategy. Only valid when the deployment strategy is
	// LINEAR" (resp. CANARY). A leftover one with BLUE_GREEN is refused.
	if cfg.LinearConfiguration != nil && cfg.Strategy != ecstypes.DeploymentStrategyLinear {
		return ecsErr("InvalidParameterException", "linearConfiguration is only valid with the LINEAR deployment strategy.")
	}
	if cfg.CanaryConfiguration != nil && cfg.Strategy != ecstypes.DeploymentStrategyCanary {
		return ecsErr("InvalidParameterException", "canaryConfiguration is only valid with the CANARY deployment strategy.")
	}
	if cfg.Strategy == ecstypes.DeploymentStrategyBlueGreen {
		// Developer guide, "Amazon ECS blue/green deployments", requirements:
		// the ECS deployment controller and a load balancer with an
		// alternate target group and a production listener rule.
		if dc := svc.svc.DeploymentController; dc != nil && dc.Type != ecstypes.DeploymentControllerTypeEcs {
			return ecsErr("InvalidParameterException", "The BLUE_GREEN strategy requires the ECS deployment controller.")
		}
		if len(svc.svc.LoadBalancers) == 0 || svc.svc.LoadBalancers[0].AdvancedConfiguration == nil {
			return ecsErr("InvalidParameterException", "The BLUE_GREEN strategy requires a load balancer with advancedConfiguration.")
		}
	}
	pauses := 0
	for _, h := range cfg.LifecycleHooks {
		// DeploymentLifecycleHook: lifecycleStages is required; hookTargetArn
		// ("You must provide this parameter when configuring an AWS_LAMBDA
		// lifecycle hook") and roleArn ("permission to call Lambda
		// functions") are a Lambda hook's; a PAUSE hook has neither
		// (developer guide, "Pause hooks": its example has only targetType,
		// lifecycleStages and timeoutConfiguration).
		if h.TargetType == ecstypes.DeploymentLifecycleHookTargetTypePause {
			pauses++
			if len(h.LifecycleStages) != 1 || h.LifecycleStages[0] != ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift || pauses > 1 {
				// Not a rule of ECS: the model plays one pause hook at POST_TEST_TRAFFIC_SHIFT only.
				return ecsErr("InvalidParameterException", "awstest models one PAUSE hook, at POST_TEST_TRAFFIC_SHIFT only.")
			}
			continue
		}
		if len(h.LifecycleStages) == 0 || aws.ToString(h.RoleArn) == "" || aws.ToString(h.HookTargetArn) == "" {
			return ecsErr("InvalidParameterException", "A lifecycle hook needs hookTargetArn, roleArn and lifecycleStages.")
		}
	}
	// aws-sdk-go-v2 ecs/types DeploymentConfiguration.BakeTimeInMinutes: "You
	// must provide this parameter when you use the BLUE_GREEN deployment
	// strategy." The API reference gives only the 0-1440 range; the stricter
	// reading (required) is modelled.
	if cfg.Strategy == ecstypes.DeploymentStrategyBlueGreen && cfg.BakeTimeInMinutes == nil {
		return ecsErr("InvalidParameterException", "bakeTimeInMinutes is required with the BLUE_GREEN deployment strategy.")
	}
	return nil
}

// settle applies to the service what its deployments did by now: failed
// tasks with their stopped reasons, service events, and the end of a
// deployment (the service runs the target revision after SUCCESSFUL, the
// source one after a rollback).
func (s *Server) settle(svc *ecsService, now time.Time) {
	if len(svc.deployments) == 0 {
		return
	}
	d := svc.deployments[len(svc.deployments)-1]
	if d.finished {
		return
	}
	v := s.elapsed(d, now)
	status, _, reason := d.view(v)
	s.failTasks(svc, d, v)
	switch status {
	case ecstypes.ServiceDeploymentStatusSuccessful:
		svc.svc.RunningCount = d.desired
		svc.svc.Deployments[0].RolloutState = ecstypes.DeploymentRolloutStateCompleted
		svc.svc.Deployments[0].RunningCount = d.desired
		s.serviceEvent(svc, now, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", aws.ToString(svc.svc.ServiceName), d.id))
		s.serviceEvent(svc, now, fmt.Sprintf("(service %s) has reached a steady state.", aws.ToString(svc.svc.ServiceName)))
	case ecstypes.ServiceDeploymentStatusRollbackSuccessful, ecstypes.ServiceDeploymentStatusRollbackFailed, ecstypes.ServiceDeploymentStatusStopped:
		if status == ecstypes.ServiceDeploymentStatusRollbackSuccessful {
			svc.svc.TaskDefinition = aws.String(d.source)
			svc.revision = d.sourceRev
		}
		svc.svc.Deployments[0].RolloutState = ecstypes.DeploymentRolloutStateFailed
		svc.svc.Deployments[0].RolloutStateReason = aws.String(reason)
		s.serviceEvent(svc, now, fmt.Sprintf("(service %s) (deployment %s) deployment failed: %s", aws.ToString(svc.svc.ServiceName), d.id, reason))
	default:
		return
	}
	d.finished = true
}

// failTasks adds the green tasks that failed by virtual second v: one every
// taskFailSecs from the start of SCALE_UP until the deployment is stopped.
func (s *Server) failTasks(svc *ecsService, d *serviceDeployment, v float64) {
	if !d.scenario.failing() {
		return
	}
	until := v
	for _, at := range []float64{d.failAt, d.stopAt} {
		if at >= 0 && at < until {
			until = at
		}
	}
	start := d.span(ecstypes.ServiceDeploymentLifecycleStageScaleUp).start
	want := int((until - start) / taskFailSecs)
	have := 0
	for _, t := range svc.tasks {
		if aws.ToString(t.StartedBy) == d.id {
			have++
		}
	}
	for i := have; i < want && i < 200; i++ {
		at := d.start.Add(time.Duration((start + float64(i+1)*taskFailSecs) / s.timeScale * float64(time.Second)))
		s.failTask(svc, d, at)
	}
}

// failTask records one stopped green task with the reason ECS gives.
// Developer guide, "Amazon ECS stopped task error messages": a task stopped
// by the service scheduler after failing its load balancer health checks
// says "Task failed ELB health checks in (target-group …)"; a task whose
// image cannot be pulled stops with TaskFailedToStart and
// "CannotPullContainerError: …".
func (s *Server) failTask(svc *ecsService, d *serviceDeployment, at time.Time) {
	c := strings.TrimPrefix(aws.ToString(svc.svc.ClusterArn), "arn:aws:ecs:"+s.region+":"+s.account+":cluster/")
	id := randomHex(16)
	t := &ecstypes.Task{
		TaskArn:           aws.String("arn:aws:ecs:" + s.region + ":" + s.account + ":task/" + c + "/" + id),
		ClusterArn:        svc.svc.ClusterArn,
		TaskDefinitionArn: aws.String(d.target),
		Group:             aws.String("service:" + aws.ToString(svc.svc.ServiceName)),
		StartedBy:         aws.String(d.id),
		LastStatus:        aws.String("STOPPED"),
		DesiredStatus:     aws.String("STOPPED"),
		CreatedAt:         &at,
		StoppedAt:         &at,
	}
	tg := ""
	if lb := svc.svc.LoadBalancers; len(lb) > 0 && lb[0].AdvancedConfiguration != nil {
		tg = aws.ToString(lb[0].AdvancedConfiguration.AlternateTargetGroupArn)
	}
	if code := d.scenario.ContainerExitCode; code != 0 {
		// Developer guide, "Amazon ECS stopped task error messages": a task
		// whose essential container exits stops with EssentialContainerExited
		// and "Essential container in task exited"; the container's exitCode
		// says how (DescribeTasks, Container.exitCode).
		name := "web"
		if td, _, aerr := s.taskDefinition(d.target); aerr == nil && len(td.ContainerDefinitions) > 0 {
			name = aws.ToString(td.ContainerDefinitions[0].Name)
		}
		t.StopCode = ecstypes.TaskStopCodeEssentialContainerExited
		t.StoppedReason = aws.String("Essential container in task exited")
		t.Containers = []ecstypes.Container{{Name: aws.String(name), ExitCode: aws.Int32(code), LastStatus: aws.String("STOPPED"), TaskArn: t.TaskArn}}
	} else if d.scenario.ImagePullFails {
		image := ""
		if td, _, aerr := s.taskDefinition(d.target); aerr == nil && len(td.ContainerDefinitions) > 0 {
			image = aws.ToString(td.ContainerDefinitions[0].Image)
		}
		t.StopCode = ecstypes.TaskStopCodeTaskFailedToStart
		t.StoppedReason = aws.String("CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref " + image + ": not found")
	} else {
		t.StopCode = ecstypes.TaskStopCodeServiceSchedulerInitiated
		t.StoppedReason = aws.String("Task failed ELB health checks in (target-group " + tg + ")")
		s.serviceEvent(svc, at, fmt.Sprintf("(service %s) (task %s) failed ELB health checks in (target-group %s)", aws.ToString(svc.svc.ServiceName), id, tg))
	}
	svc.tasks = append(svc.tasks, t)
	s.serviceEvent(svc, at, fmt.Sprintf("(service %s) has stopped 1 running tasks: (task %s).", aws.ToString(svc.svc.ServiceName), id))
}

func (s *Server) serviceEvent(svc *ecsService, at time.Time, msg string) {
	svc.svc.Events = append(svc.svc.Events, ecstypes.ServiceEvent{Id: aws.String(randomHex(18)), CreatedAt: &at, Message: aws.String(msg)})
}

func (s *Server) deployment(arn string) (*ecsService, *serviceDeployment) {
	for _, c := range s.clusters {
		for _, svc := range c.services {
			for _, d := range svc.deployments {
				if d.arn == arn {
					return svc, d
				}
			}
		}
	}
	return nil, nil
}

// serviceDeploymentView is the deployment as DescribeServiceDeployments answers it.
func (s *Server) serviceDeploymentView(svc *ecsService, d *serviceDeployment, now time.Time) ecstypes.ServiceDeployment {
	s.settle(svc, now)
	v := s.elapsed(d, now)
	status, stage, reason := d.view(v)
	start := d.start
	out := ecstypes.ServiceDeployment{
		ServiceDeploymentArn: aws.String(d.arn), ServiceArn: aws.String(d.serviceARN), ClusterArn: aws.String(d.clusterARN),
		CreatedAt: &start, UpdatedAt: &now, Status: status, LifecycleStage: stage,
		DeploymentConfiguration: &d.config,
		TargetServiceRevision:   &ecstypes.ServiceRevisionSummary{Arn: aws.String(d.targetRev), RequestedTaskCount: d.desired},
		SourceServiceRevisions:  []ecstypes.ServiceRevisionSummary{{Arn: aws.String(d.sourceRev), RequestedTaskCount: d.desired}},
	}
	if status != ecstypes.ServiceDeploymentStatusPending {
		started := d.start.Add(time.Duration(pendingSecs / s.timeScale * float64(time.Second)))
		out.StartedAt = &started
	}
	if reason != "" {
		out.StatusReason = aws.String(reason)
	}
	if raw := s.rawElapsed(d, now); d.awaiting(raw) && status == ecstypes.ServiceDeploymentStatusInProgress {
		// Developer guide, "Lifecycle hooks for Amazon ECS service
		// deployments": DescribeServiceDeployments lists each active hook.
		timeout, action := d.pauseTimeout()
		expires := d.start.Add(time.Duration((d.pauseStart + timeout) / s.timeScale * float64(time.Second)))
		out.LifecycleHookDetails = []ecstypes.DeploymentLifecycleHookDetail{{
			HookId: aws.String(d.hookID), TargetType: ecstypes.DeploymentLifecycleHookTargetTypePause,
			Status: ecstypes.DeploymentLifecycleHookStatusAwaitingAction, ExpiresAt: &expires, TimeoutAction: action,
		}}
	}
	if cb := d.config.DeploymentCircuitBreaker; cb != nil && cb.Enable {
		out.DeploymentCircuitBreaker = &ecstypes.ServiceDeploymentCircuitBreaker{Status: ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoring, Threshold: circuitBreakerThreshold(d.desired)}
	}
	return out
}

func (s *Server) describeServiceDeployments(in *ecs.DescribeServiceDeploymentsInput) (*ecs.DescribeServiceDeploymentsOutput, *apiError) {
	// ECS API reference, DescribeServiceDeployments: serviceDeploymentArns is
	// required, "Array Members: Minimum number of 1 item. Maximum number of 20 items."
	if len(in.ServiceDeploymentArns) == 0 || len(in.ServiceDeploymentArns) > 20 {
		return nil, ecsErr("InvalidParameterException", "serviceDeploymentArns must have between 1 and 20 elements.")
	}
	out := &ecs.DescribeServiceDeploymentsOutput{ServiceDeployments: []ecstypes.ServiceDeployment{}, Failures: []ecstypes.Failure{}}
	now := s.ecsNow()
	for _, arn := range in.ServiceDeploymentArns {
		if !strings.HasPrefix(arn, "arn:aws:ecs:") {
			return nil, ecsErr("InvalidParameterException", "Invalid service deployment ARN: "+arn)
		}
		svc, d := s.deployment(arn)
		if d == nil || d.unknownLeft > 0 {
			if d != nil {
				d.unknownLeft--
			}
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
			continue
		}
		out.ServiceDeployments = append(out.ServiceDeployments, s.serviceDeploymentView(svc, d, now))
	}
	return out, nil
}

func (s *Server) listServiceDeployments(in *ecs.ListServiceDeploymentsInput) (*ecs.ListServiceDeploymentsOutput, *apiError) {
	_, svc, aerr := s.service(in.Cluster, in.Service)
	if aerr != nil {
		return nil, aerr
	}
	now := s.ecsNow()
	out := &ecs.ListServiceDeploymentsOutput{ServiceDeployments: []ecstypes.ServiceDeploymentBrief{}}
	newest := len(svc.deployments) - 1
	if svc.unlistedReads > 0 {
		svc.unlistedReads--
		newest--
	}
	// Newest first, as the ECS console lists them.
	for i := newest; i >= 0; i-- {
		d := svc.deployments[i]
		v := s.serviceDeploymentView(svc, d, now)
		if len(in.Status) > 0 && !slices.Contains(in.Status, v.Status) {
			continue
		}
		out.ServiceDeployments = append(out.ServiceDeployments, ecstypes.ServiceDeploymentBrief{
			ServiceDeploymentArn: v.ServiceDeploymentArn, ServiceArn: v.ServiceArn, ClusterArn: v.ClusterArn,
			Status: v.Status, StatusReason: v.StatusReason, CreatedAt: v.CreatedAt, StartedAt: v.StartedAt,
			TargetServiceRevisionArn: v.TargetServiceRevision.Arn,
		})
	}
	return out, nil
}

func (s *Server) stopServiceDeployment(in *ecs.StopServiceDeploymentInput) (*ecs.StopServiceDeploymentOutput, *apiError) {
	// ECS API reference, StopServiceDeployment: stopType "The valid values
	// are ROLLBACK." The SDK's StopServiceDeploymentStopType enum also has
	// ABORT; the sources disagree and the stricter one is modelled: only
	// ROLLBACK is accepted.
	if in.StopType != "" && in.StopType != ecstypes.StopServiceDeploymentStopTypeRollback {
		return nil, ecsErr("InvalidParameterException", "Invalid stopType "+string(in.StopType)+": the valid value is ROLLBACK.")
	}
	svc, d := s.deployment(aws.ToString(in.ServiceDeploymentArn))
	if d == nil {
		return nil, ecsErr("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
	}
	now := s.ecsNow()
	s.settle(svc, now)
	v := s.elapsed(d, now)
	status, _, _ := d.view(v)
	// aws-sdk-go-v2 ecs.StopServiceDeployment: "Stops an ongoing service
	// deployment", read as PENDING or IN_PROGRESS.
	if status != ecstypes.ServiceDeploymentStatusPending && status != ecstypes.ServiceDeploymentStatusInProgress {
		// ConflictException: "The request could not be processed because of
		// conflict in the current state of the resource."
		return nil, ecsErr("ConflictException", "The service deployment is "+string(status)+" and cannot be stopped.")
	}
	if raw := s.rawElapsed(d, now); d.awaiting(raw) {
		// A stop ends the pause: the rollback starts now.
		d.resumeAt = raw
	}
	d.stopAt = v
	return &ecs.StopServiceDeploymentOutput{ServiceDeploymentArn: aws.String(d.arn)}, nil
}

// continueServiceDeployment answers a paused lifecycle hook. ECS API
// reference, ContinueServiceDeployment: hookId and serviceDeploymentArn are
// required, action CONTINUE (the default) or ROLLBACK; developer guide,
// "Continuing service deployments": "The pause hook must be in
// AWAITING_ACTION status" and "The deployment must be in the IN_PROGRESS
// state" (else ConflictException, "conflict in the current state of the resource").
func (s *Server) continueServiceDeployment(in *ecs.ContinueServiceDeploymentInput) (*ecs.ContinueServiceDeploymentOutput, *apiError) {
	if aws.ToString(in.HookId) == "" || aws.ToString(in.ServiceDeploymentArn) == "" {
		return nil, ecsErr("InvalidParameterException", "hookId and serviceDeploymentArn are required.")
	}
	switch in.Action {
	case "", ecstypes.DeploymentLifecycleHookActionContinue, ecstypes.DeploymentLifecycleHookActionRollback:
	default:
		return nil, ecsErr("InvalidParameterException", "Invalid action "+string(in.Action)+": the valid values are CONTINUE and ROLLBACK.")
	}
	svc, d := s.deployment(aws.ToString(in.ServiceDeploymentArn))
	if d == nil {
		return nil, ecsErr("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
	}
	now := s.ecsNow()
	s.settle(svc, now)
	v := s.elapsed(d, now)
	status, _, _ := d.view(v)
	raw := s.rawElapsed(d, now)
	if d.pause == nil || aws.ToString(in.HookId) != d.hookID {
		return nil, ecsErr("InvalidParameterException", "The service deployment has no lifecycle hook "+aws.ToString(in.HookId)+".")
	}
	if status != ecstypes.ServiceDeploymentStatusInProgress || !d.awaiting(raw) {
		return nil, ecsErr("ConflictException", "The lifecycle hook is not AWAITING_ACTION (the service deployment is "+string(status)+").")
	}
	action := in.Action
	if action == "" {
		action = ecstypes.DeploymentLifecycleHookActionContinue
	}
	d.resume(raw, action)
	return &ecs.ContinueServiceDeploymentOutput{ServiceDeploymentArn: aws.String(d.arn)}, nil
}

func randomDigits(n int) string {
	b := []byte(randomHex(n))
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b[:n])
}

func randomAlnum(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := []byte(randomHex(n))
	for i := range b {
		b[i] = alphabet[int(b[i])*7%len(alphabet)]
	}
	return string(b[:n])
}

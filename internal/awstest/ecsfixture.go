package awstest

import (
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// BlueGreenService describes an ECS service set up for ECS blue/green
// deployments behind an Application Load Balancer, the way the developer
// guide's "Amazon ECS blue/green deployments" requires: the ECS deployment
// controller, a load balancer whose advancedConfiguration names an
// alternate target group and production (and test) listener rules.
type BlueGreenService struct {
	Cluster, Service, Family string
	// ContainerName and ContainerPort are the container the load balancer
	// routes to. If empty, "web" and 8080.
	ContainerName string
	ContainerPort int32
	// DesiredCount of the service. If zero, 1.
	DesiredCount int32
	// DeploymentConfiguration of the service (strategy, bake time, lifecycle
	// hooks, circuit breaker). If nil: BLUE_GREEN, 5 minutes' bake, the
	// circuit breaker with rollback.
	DeploymentConfiguration *ecstypes.DeploymentConfiguration
	// TaskDefinition is revision 1 of Family. If nil, one container
	// ContainerName running an image of the ECR registry.
	TaskDefinition *ecstypes.TaskDefinition
	Scenario       ECSScenario
	// TestTraffic, if set, answers the HTTP requests sent to the test
	// listener (DNSName:8080): it is served on 127.0.0.1 by an httptest
	// server, and the Lambda stand-ins' HTTP client dials it for that address.
	TestTraffic http.Handler
}

// BlueGreenResources are the ARNs and names AddBlueGreenService made.
type BlueGreenResources struct {
	ClusterARN, ServiceARN, TaskDefinitionARN string
	LoadBalancerARN, DNSName                  string
	ProductionListenerARN, TestListenerARN    string
	ProductionRuleARN, TestRuleARN            string
	TargetGroupARN, AlternateTargetGroupARN   string
}

// AddBlueGreenService creates the cluster (if new), the load balancer with a
// production listener (HTTP 80) and a test listener (HTTP 8080), both target
// groups, revision 1 of the task definition family and the ACTIVE service.
func (s *Server) AddBlueGreenService(spec BlueGreenService) BlueGreenResources {
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.ContainerName == "" {
		spec.ContainerName = "web"
	}
	if spec.ContainerPort == 0 {
		spec.ContainerPort = 8080
	}
	if spec.DesiredCount == 0 {
		spec.DesiredCount = 1
	}
	prefix := "arn:aws:elasticloadbalancing:" + s.region + ":" + s.account + ":"
	lbID := randomHex(8)
	r := BlueGreenResources{
		ClusterARN:              "arn:aws:ecs:" + s.region + ":" + s.account + ":cluster/" + spec.Cluster,
		ServiceARN:              s.serviceARN(spec.Cluster, spec.Service),
		LoadBalancerARN:         prefix + "loadbalancer/app/" + spec.Service + "/" + lbID,
		DNSName:                 spec.Service + "-" + lbID + "." + s.region + ".elb.amazonaws.com",
		ProductionListenerARN:   prefix + "listener/app/" + spec.Service + "/" + lbID + "/" + randomHex(8),
		TestListenerARN:         prefix + "listener/app/" + spec.Service + "/" + lbID + "/" + randomHex(8),
		TargetGroupARN:          prefix + "targetgroup/" + spec.Service + "-blue/" + randomHex(8),
		AlternateTargetGroupARN: prefix + "targetgroup/" + spec.Service + "-green/" + randomHex(8),
	}
	r.ProductionRuleARN = prefix + "listener-rule/app/" + spec.Service + "/" + lbID + "/" + r.ProductionListenerARN[len(r.ProductionListenerARN)-16:] + "/" + randomHex(8)
	r.TestRuleARN = prefix + "listener-rule/app/" + spec.Service + "/" + lbID + "/" + r.TestListenerARN[len(r.TestListenerARN)-16:] + "/" + randomHex(8)
	now := time.Now()
	s.loadBalancers[r.LoadBalancerARN] = &elbtypes.LoadBalancer{
		LoadBalancerArn: aws.String(r.LoadBalancerARN), LoadBalancerName: aws.String(spec.Service), DNSName: aws.String(r.DNSName),
		Scheme: elbtypes.LoadBalancerSchemeEnumInternetFacing, Type: elbtypes.LoadBalancerTypeEnumApplication,
		State: &elbtypes.LoadBalancerState{Code: elbtypes.LoadBalancerStateEnumActive}, CreatedTime: &now,
	}
	if spec.TestTraffic != nil {
		ts := httptest.NewServer(spec.TestTraffic)
		s.t.Cleanup(ts.Close)
		s.routes[r.DNSName+":8080"] = ts.Listener.Addr().String()
	}
	for arn, port := range map[string]int32{r.ProductionListenerARN: 80, r.TestListenerARN: 8080} {
		s.listeners[arn] = &elbtypes.Listener{ListenerArn: aws.String(arn), LoadBalancerArn: aws.String(r.LoadBalancerARN), Port: aws.Int32(port), Protocol: elbtypes.ProtocolEnumHttp}
	}
	c, ok := s.clusters[spec.Cluster]
	if !ok {
		c = &ecsCluster{arn: r.ClusterARN, name: spec.Cluster, services: map[string]*ecsService{}}
		s.clusters[spec.Cluster] = c
	}
	td := spec.TaskDefinition
	if td == nil {
		td = &ecstypes.TaskDefinition{
			ContainerDefinitions: []ecstypes.ContainerDefinition{{
				Name: aws.String(spec.ContainerName), Image: aws.String(s.account + ".dkr.ecr." + s.region + ".amazonaws.com/" + spec.Service + ":previous"),
				Essential: aws.Bool(true), PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(spec.ContainerPort)}},
			}},
			NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
			RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		}
	}
	fam := &taskDefinitionFamily{tags: map[int32][]ecstypes.Tag{}}
	first := *td
	first.Family, first.Revision, first.Status = aws.String(spec.Family), 1, ecstypes.TaskDefinitionStatusActive
	first.TaskDefinitionArn = aws.String("arn:aws:ecs:" + s.region + ":" + s.account + ":task-definition/" + spec.Family + ":1")
	fam.revisions = append(fam.revisions, &first)
	s.taskDefs[spec.Family] = fam
	r.TaskDefinitionARN = *first.TaskDefinitionArn
	cfg := spec.DeploymentConfiguration
	if cfg == nil {
		cfg = &ecstypes.DeploymentConfiguration{
			Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(5),
			DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true},
			MaximumPercent:           aws.Int32(200), MinimumHealthyPercent: aws.Int32(100),
		}
	}
	c.services[spec.Service] = &ecsService{scenario: spec.Scenario, svc: ecstypes.Service{
		ServiceArn: aws.String(r.ServiceARN), ServiceName: aws.String(spec.Service), ClusterArn: aws.String(r.ClusterARN),
		Status: aws.String("ACTIVE"), DesiredCount: spec.DesiredCount, RunningCount: spec.DesiredCount,
		TaskDefinition: aws.String(r.TaskDefinitionARN), LaunchType: ecstypes.LaunchTypeFargate,
		DeploymentController:    &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs},
		DeploymentConfiguration: cfg, CreatedAt: &now, SchedulingStrategy: ecstypes.SchedulingStrategyReplica,
		LoadBalancers: []ecstypes.LoadBalancer{{
			TargetGroupArn: aws.String(r.TargetGroupARN), ContainerName: aws.String(spec.ContainerName), ContainerPort: aws.Int32(spec.ContainerPort),
			AdvancedConfiguration: &ecstypes.AdvancedConfiguration{
				AlternateTargetGroupArn: aws.String(r.AlternateTargetGroupARN), ProductionListenerRule: aws.String(r.ProductionRuleARN),
				TestListenerRule: aws.String(r.TestRuleARN), RoleArn: aws.String("arn:aws:iam::" + s.account + ":role/ecs-infrastructure"),
			},
		}},
		Deployments: []ecstypes.Deployment{{Id: aws.String("ecs-svc/" + randomDigits(19)), Status: aws.String("PRIMARY"), TaskDefinition: aws.String(r.TaskDefinitionARN), DesiredCount: spec.DesiredCount, RunningCount: spec.DesiredCount, RolloutState: ecstypes.DeploymentRolloutStateCompleted, CreatedAt: &now}},
	}}
	return r
}

// ECSServiceState is what a test can assert on a service: what ECS would
// show in its console.
type ECSServiceState struct {
	DesiredCount   int32
	TaskDefinition string
	// Deployments are the service deployments, oldest first, with the status
	// they have now.
	Deployments []ecstypes.ServiceDeployment
}

// ECSService returns the state of a service now; ok is false if it does not exist.
func (s *Server) ECSService(cluster, service string) (st ECSServiceState, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, svc, aerr := s.service(aws.String(cluster), aws.String(service))
	if aerr != nil {
		return st, false
	}
	now := s.ecsNow()
	s.settle(svc, now)
	st.DesiredCount = svc.svc.DesiredCount
	st.TaskDefinition = aws.ToString(svc.svc.TaskDefinition)
	for _, d := range svc.deployments {
		st.Deployments = append(st.Deployments, s.serviceDeploymentView(svc, d, now))
	}
	return st, true
}

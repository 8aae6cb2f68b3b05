package awstest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ServiceECS and ServiceELB are the Call.Service (and SigV4 signing) names of
// Amazon ECS and Elastic Load Balancing v2.
const (
	ServiceECS = "ecs"
	ServiceELB = "elasticloadbalancing"
)

// ECSScenario scripts how the deployments of one ECS service go. The zero
// ECSScenario is a healthy service whose deployments succeed after their
// lifecycle stages and bake time.
type ECSScenario struct {
	// UnhealthyTasks makes the new revision's tasks fail their load balancer
	// health checks: each is stopped with "Task failed ELB health checks in
	// (target-group …)" and, once the circuit breaker threshold is reached,
	// ECS rolls the deployment back (or stops it, or, without a circuit
	// breaker, keeps replacing tasks).
	UnhealthyTasks bool
	// ImagePullFails makes the new revision's tasks fail to start with
	// CannotPullContainerError, with the same consequences.
	ImagePullFails bool
	// ContainerExitCode, if not zero, makes the new revision's essential
	// container exit with it soon after starting, with the same consequences.
	ContainerExitCode int32
	// RollbackFails makes a rollback end ROLLBACK_FAILED instead of ROLLBACK_SUCCESSFUL.
	RollbackFails bool
	// HookSeconds is how long (in virtual seconds) each lifecycle hook
	// answers IN_PROGRESS before SUCCEEDED. If zero, 30: one callback delay.
	HookSeconds int
	// EmptyCurrentDeployment makes the first N answers that carry the service
	// after an UpdateService (that answer included) omit
	// CurrentServiceDeployment, as ECS may while it creates the deployment.
	EmptyCurrentDeployment int
	// UnknownDeploymentReads makes the first N DescribeServiceDeployments
	// reads of a new deployment answer it as a MISSING failure.
	UnknownDeploymentReads int
	// UnlistedReads makes the first N ListServiceDeployments answers after an
	// UpdateService leave the new deployment out, as a list that is
	// eventually consistent may.
	UnlistedReads int
}

// failing reports whether the new revision's tasks keep failing.
func (sc ECSScenario) failing() bool {
	return sc.UnhealthyTasks || sc.ImagePullFails || sc.ContainerExitCode != 0
}

type ecsCluster struct {
	arn, name string
	services  map[string]*ecsService // by name
}

type ecsService struct {
	svc         ecstypes.Service
	scenario    ECSScenario
	deployments []*serviceDeployment // oldest first
	tasks       []*ecstypes.Task
	// emptyReads is how many more answers omit CurrentServiceDeployment;
	// unlistedReads how many more lists omit the newest deployment.
	emptyReads, unlistedReads int
	revision                  string // the service revision ARN it runs, once a deployment made one
}

type taskDefinitionFamily struct {
	revisions []*ecstypes.TaskDefinition // revision n at n-1
	tags      map[int32][]ecstypes.Tag
}

var (
	// ECS API reference, RegisterTaskDefinition: "family … Up to 255 letters
	// (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
	familyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	// A task definition is named by family, family:revision or its full ARN
	// (DescribeTaskDefinition, taskDefinition).
	taskDefRefRE = regexp.MustCompile(`^(?:arn:aws:ecs:[a-z0-9-]+:\d{12}:task-definition/)?([A-Za-z0-9_-]{1,255})(?::(\d+))?$`)
)

func ecsErr(code, message string) *apiError { return errf(400, code, message) }

// ecsNow is the server clock as ECS deployments see it.
func (s *Server) ecsNow() time.Time { return time.Now() }

// cluster finds a cluster by name or ARN; ECS's default cluster is "default".
// ECS API reference, Common errors: ClusterNotFoundException "The specified
// cluster wasn't found."
func (s *Server) cluster(ref *string) (*ecsCluster, *apiError) {
	name := aws.ToString(ref)
	if name == "" {
		name = "default"
	}
	if i := strings.LastIndex(name, ":cluster/"); i >= 0 {
		name = name[i+len(":cluster/"):]
	}
	c, ok := s.clusters[name]
	if !ok {
		return nil, ecsErr("ClusterNotFoundException", "Cluster not found.")
	}
	return c, nil
}

func serviceName(ref string) string {
	if i := strings.LastIndex(ref, "/"); strings.HasPrefix(ref, "arn:") && i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func (s *Server) service(cluster, service *string) (*ecsCluster, *ecsService, *apiError) {
	c, aerr := s.cluster(cluster)
	if aerr != nil {
		return nil, nil, aerr
	}
	svc, ok := c.services[serviceName(aws.ToString(service))]
	if !ok {
		// ECS API reference, UpdateService errors: ServiceNotFoundException
		// "The specified service wasn't found."
		return c, nil, ecsErr("ServiceNotFoundException", "Service not found.")
	}
	return c, svc, nil
}

// taskDefinition resolves family, family:revision or an ARN; a bare family is
// its latest ACTIVE revision.
func (s *Server) taskDefinition(ref string) (*ecstypes.TaskDefinition, []ecstypes.Tag, *apiError) {
	m := taskDefRefRE.FindStringSubmatch(ref)
	// ECS answers an unknown task definition with ClientException "Unable to
	// describe task definition." (DescribeTaskDefinition, Errors: ClientException).
	missing := ecsErr("ClientException", "Unable to describe task definition.")
	if m == nil {
		return nil, nil, missing
	}
	fam, ok := s.taskDefs[m[1]]
	if !ok || len(fam.revisions) == 0 {
		return nil, nil, missing
	}
	n := len(fam.revisions)
	if m[2] != "" {
		var err error
		if n, err = strconv.Atoi(m[2]); err != nil || n < 1 || n > len(fam.revisions) {
			return nil, nil, missing
		}
	}
	td := fam.revisions[n-1]
	return td, fam.tags[td.Revision], nil
}

func (s *Server) handleECS(req request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.op {
	case "DescribeServices":
		return ecsCall(req, s.describeServices)
	case "DescribeTaskDefinition":
		return ecsCall(req, s.describeTaskDefinition)
	case "RegisterTaskDefinition":
		return ecsCall(req, s.registerTaskDefinition)
	case "UpdateService":
		return ecsCall(req, s.updateService)
	case "DescribeServiceDeployments":
		return ecsCall(req, s.describeServiceDeployments)
	case "ListServiceDeployments":
		return ecsCall(req, s.listServiceDeployments)
	case "StopServiceDeployment":
		return ecsCall(req, s.stopServiceDeployment)
	case "ContinueServiceDeployment":
		return ecsCall(req, s.continueServiceDeployment)
	case "DescribeTasks":
		return ecsCall(req, s.describeTasks)
	case "ListTasks":
		return ecsCall(req, s.listTasks)
	}
	return nil, errf(400, "UnknownOperationException", "unknown operation "+req.op)
}

// ecsCall decodes the request into the SDK's input shape, refusing members the
// shape does not have, and calls op.
func ecsCall[In, Out any](req request, op func(*In) (*Out, *apiError)) (any, *apiError) {
	in := new(In)
	if aerr := decodeShape(req.body, in); aerr != nil {
		return nil, aerr
	}
	out, aerr := op(in)
	if aerr != nil {
		return nil, aerr
	}
	return out, nil
}

func (s *Server) describeServices(in *ecs.DescribeServicesInput) (*ecs.DescribeServicesOutput, *apiError) {
	c, aerr := s.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	// ECS API reference, DescribeServices: "services … You may specify up to 10
	// services" and the member is required (aws-sdk-go-v2 ecs.DescribeServicesInput).
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, ecsErr("InvalidParameterException", "Services cannot be empty and must have at most 10 elements.")
	}
	out := &ecs.DescribeServicesOutput{Services: []ecstypes.Service{}, Failures: []ecstypes.Failure{}}
	now := s.ecsNow()
	for _, name := range in.Services {
		svc, ok := c.services[serviceName(name)]
		if !ok {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(s.serviceARN(c.name, serviceName(name))), Reason: aws.String("MISSING")})
			continue
		}
		out.Services = append(out.Services, s.serviceView(svc, now))
	}
	return out, nil
}

func (s *Server) serviceARN(cluster, name string) string {
	return "arn:aws:ecs:" + s.region + ":" + s.account + ":service/" + cluster + "/" + name
}

// serviceView is the service as ECS answers it now: its deployments' effects
// applied, newest event first (ECS returns up to 100 events).
func (s *Server) serviceView(svc *ecsService, now time.Time) ecstypes.Service {
	s.settle(svc, now)
	v := svc.svc
	v.Events = slices.Clone(svc.svc.Events)
	slices.Reverse(v.Events)
	if len(v.Events) > 100 {
		v.Events = v.Events[:100]
	}
	if svc.emptyReads > 0 {
		svc.emptyReads--
		v.CurrentServiceDeployment = nil
	}
	return v
}

func (s *Server) describeTaskDefinition(in *ecs.DescribeTaskDefinitionInput) (*ecs.DescribeTaskDefinitionOutput, *apiError) {
	td, tags, aerr := s.taskDefinition(aws.ToString(in.TaskDefinition))
	if aerr != nil {
		return nil, aerr
	}
	out := &ecs.DescribeTaskDefinitionOutput{TaskDefinition: td}
	// ECS API reference, DescribeTaskDefinition: "include … If TAGS is
	// specified, the tags are included in the response."
	if slices.Contains(in.Include, ecstypes.TaskDefinitionFieldTags) {
		out.Tags = tags
	}
	return out, nil
}

func (s *Server) registerTaskDefinition(in *ecs.RegisterTaskDefinitionInput) (*ecs.RegisterTaskDefinitionOutput, *apiError) {
	family := aws.ToString(in.Family)
	// familyRE above (RegisterTaskDefinition, family); ECS answers ClientException.
	if !familyRE.MatchString(family) {
		return nil, ecsErr("ClientException", "Family contains invalid characters or is empty.")
	}
	// ECS API reference, RegisterTaskDefinition: containerDefinitions is
	// required. ContainerDefinition name and image are not marked required in
	// aws-sdk-go-v2 ecs/types.ContainerDefinition, but ECS refuses a container
	// without them with ClientException "Container.image should not be null
	// or empty."; the sources disagree and the stricter (refuse) is modelled.
	if len(in.ContainerDefinitions) == 0 {
		return nil, ecsErr("ClientException", "Container list cannot be empty.")
	}
	for _, c := range in.ContainerDefinitions {
		if aws.ToString(c.Name) == "" || aws.ToString(c.Image) == "" {
			return nil, ecsErr("ClientException", "Container.name and Container.image should not be null or empty.")
		}
	}
	// TrustedExecutionConfiguration: isolationMode is required;
	// attestationPolicy "is required when isolationMode is CONFIDENTIAL_SANDBOX".
	if tc := in.TrustedExecutionConfiguration; tc != nil {
		switch {
		case tc.IsolationMode == "":
			return nil, ecsErr("ClientException", "TrustedExecutionConfiguration.isolationMode is required.")
		case tc.IsolationMode == ecstypes.IsolationModeConfidentialSandbox && aws.ToString(tc.AttestationPolicy) == "":
			return nil, ecsErr("ClientException", "TrustedExecutionConfiguration.attestationPolicy is required with CONFIDENTIAL_SANDBOX.")
		}
	}
	// ECS API reference, Tag: key 1-128 characters, value 0-256;
	// RegisterTaskDefinition, tags: "Maximum number of tags per resource - 50".
	if len(in.Tags) > 50 {
		return nil, ecsErr("InvalidParameterException", "Too many tags.")
	}
	for _, t := range in.Tags {
		if k := aws.ToString(t.Key); k == "" || len(k) > 128 || len(aws.ToString(t.Value)) > 256 {
			return nil, ecsErr("InvalidParameterException", "Tag keys must be 1-128 characters and values at most 256.")
		}
	}
	fam, ok := s.taskDefs[family]
	if !ok {
		fam = &taskDefinitionFamily{tags: map[int32][]ecstypes.Tag{}}
		s.taskDefs[family] = fam
	}
	rev := int32(len(fam.revisions) + 1) // #nosec G115 -- one test registers a handful of revisions, far below 2^31
	now := s.ecsNow()
	td := &ecstypes.TaskDefinition{
		TaskDefinitionArn:       aws.String(fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", s.region, s.account, family, rev)),
		Family:                  aws.String(family),
		Revision:                rev,
		Status:                  ecstypes.TaskDefinitionStatusActive,
		ContainerDefinitions:    in.ContainerDefinitions,
		Cpu:                     in.Cpu,
		Memory:                  in.Memory,
		NetworkMode:             in.NetworkMode,
		TaskRoleArn:             in.TaskRoleArn,
		ExecutionRoleArn:        in.ExecutionRoleArn,
		Volumes:                 in.Volumes,
		PlacementConstraints:    in.PlacementConstraints,
		RequiresCompatibilities: in.RequiresCompatibilities,
		Compatibilities:         compatibilities(in.RequiresCompatibilities),
		PidMode:                 in.PidMode,
		IpcMode:                 in.IpcMode,
		ProxyConfiguration:      in.ProxyConfiguration,
		//lint:ignore SA1019 deprecated ("no longer available") but still a member of the input shape, so kept as sent
		InferenceAccelerators:         in.InferenceAccelerators,
		EphemeralStorage:              in.EphemeralStorage,
		RuntimePlatform:               in.RuntimePlatform,
		EnableFaultInjection:          in.EnableFaultInjection,
		TrustedExecutionConfiguration: in.TrustedExecutionConfiguration,
		RegisteredAt:                  &now,
		RegisteredBy:                  aws.String("arn:aws:iam::" + s.account + ":role/panda-states"),
	}
	if td.NetworkMode == "" {
		td.NetworkMode = ecstypes.NetworkModeBridge // ECS API reference: "The default Docker network mode is bridge."
	}
	fam.revisions = append(fam.revisions, td)
	fam.tags[rev] = in.Tags
	return &ecs.RegisterTaskDefinitionOutput{TaskDefinition: td, Tags: in.Tags}, nil
}

func compatibilities(req []ecstypes.Compatibility) []ecstypes.Compatibility {
	out := []ecstypes.Compatibility{ecstypes.CompatibilityEc2}
	for _, c := range req {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) describeTasks(in *ecs.DescribeTasksInput) (*ecs.DescribeTasksOutput, *apiError) {
	c, aerr := s.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	// ECS API reference, DescribeTasks: "tasks … up to 100".
	if len(in.Tasks) == 0 || len(in.Tasks) > 100 {
		return nil, ecsErr("InvalidParameterException", "Tasks cannot be empty and must have at most 100 elements.")
	}
	out := &ecs.DescribeTasksOutput{Tasks: []ecstypes.Task{}, Failures: []ecstypes.Failure{}}
	now := s.ecsNow()
	for _, ref := range in.Tasks {
		var found *ecstypes.Task
		for _, svc := range c.services {
			s.settle(svc, now)
			for _, t := range svc.tasks {
				if aws.ToString(t.TaskArn) == ref || strings.HasSuffix(aws.ToString(t.TaskArn), "/"+ref) {
					found = t
				}
			}
		}
		if found == nil {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(ref), Reason: aws.String("MISSING")})
			continue
		}
		out.Tasks = append(out.Tasks, *found)
	}
	return out, nil
}

func (s *Server) listTasks(in *ecs.ListTasksInput) (*ecs.ListTasksOutput, *apiError) {
	c, aerr := s.cluster(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	want := string(in.DesiredStatus)
	if want == "" {
		want = "RUNNING" // ECS API reference, ListTasks: desiredStatus defaults to RUNNING.
	}
	out := &ecs.ListTasksOutput{TaskArns: []string{}}
	now := s.ecsNow()
	for _, svc := range c.services {
		if in.ServiceName != nil && aws.ToString(svc.svc.ServiceName) != serviceName(*in.ServiceName) {
			continue
		}
		s.settle(svc, now)
		for _, t := range svc.tasks {
			if aws.ToString(t.DesiredStatus) == want {
				out.TaskArns = append(out.TaskArns, aws.ToString(t.TaskArn))
			}
		}
	}
	return out, nil
}

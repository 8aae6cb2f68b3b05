package awstest

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// sdkServices maps an AWS SDK integration's service name (the Resource's
// arn:aws:states:::aws-sdk:SERVICE:action) to the server's service and the
// PascalCase name Step Functions prefixes its errors with ("ServiceName.ErrorName",
// Step Functions developer guide, "Learning to use AWS service SDK
// integrations in Step Functions": both PascalCase, and always with the
// Exception suffix even where the service's code lacks it, e.g.
// S3.BucketAlreadyExistsException; hence ListenerNotFound below becomes
// ElasticLoadBalancingV2.ListenerNotFoundException).
var sdkServices = map[string]struct{ service, prefix string }{
	"ecs":                    {ServiceECS, "Ecs"},
	"elasticloadbalancingv2": {ServiceELB, "ElasticLoadBalancingV2"},
}

// modeledErrors are the error codes the services' API models define as
// shapes. Step Functions names those "Prefix.Code"; everything else the
// service answers (throttling, internal failures: ECS's model has no
// ThrottlingException shape, see aws/aws-sdk#821) surfaces through the Java
// SDK's generic service exception, "Ecs.EcsException" /
// "ElasticLoadBalancingV2.ElasticLoadBalancingV2Exception", with the
// service's message and code in the cause.
var modeledErrors = map[string]map[string]string{
	ServiceECS: {
		"AccessDeniedException": "", "ClientException": "", "ClusterNotFoundException": "", "ConflictException": "",
		"InvalidParameterException": "", "LimitExceededException": "", "PlatformUnknownException": "",
		"PlatformTaskDefinitionIncompatibilityException": "", "ResourceNotFoundException": "", "ServerException": "",
		"ServiceDeploymentNotFoundException": "", "ServiceNotActiveException": "", "ServiceNotFoundException": "",
		"UnsupportedFeatureException": "",
	},
	// ELBv2's query error codes and their shapes (awsQueryError trait).
	ServiceELB: {"ListenerNotFound": "ListenerNotFoundException", "LoadBalancerNotFound": "LoadBalancerNotFoundException"},
}

// taskError is how a Task state failed: a Step Functions error name and cause.
type taskError struct{ name, cause string }

// sdkCall plays one AWS SDK integration call of an evaluated execution: it is
// recorded as a Call (with no access key: Step Functions signs with the
// execution role), subject to injected faults, and answered by the same model
// as the wire API.
func (s *Server) sdkCall(integration, action string, args json.RawMessage) (json.RawMessage, *taskError) {
	svc, ok := sdkServices[integration]
	if !ok {
		return nil, &taskError{"States.Runtime", "awstest does not play the AWS SDK integration " + integration}
	}
	op := upperFirst(action)
	aerr := s.takeFault(svc.service, op)
	var out any
	if aerr == nil {
		out, aerr = s.sdkDispatch(svc.service, op, args)
	}
	call := Call{Service: svc.service, Operation: op, Input: args, Time: time.Now()}
	if aerr != nil {
		call.ErrorCode = aerr.code
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	if aerr != nil {
		return nil, sdkError(svc.service, svc.prefix, aerr)
	}
	b, err := sdkJSON(out)
	if err != nil {
		return nil, &taskError{"States.Runtime", err.Error()}
	}
	return b, nil
}

func (s *Server) sdkDispatch(service, op string, args json.RawMessage) (any, *apiError) {
	switch service {
	case ServiceECS:
		return s.handleECS(request{service: ServiceECS, op: op, body: args})
	case ServiceELB:
		s.mu.Lock()
		defer s.mu.Unlock()
		switch op {
		case "DescribeListeners":
			return ecsCall(request{body: args}, s.describeListeners)
		case "DescribeLoadBalancers":
			return ecsCall(request{body: args}, s.describeLoadBalancers)
		}
	}
	return nil, errf(400, "UnknownOperationException", "unknown operation "+op)
}

// sdkError names a service error as Step Functions does. An argument the SDK
// shape does not have is a States.Runtime error: Step Functions cannot build
// the request, and States.Runtime is neither retried nor caught ("Error
// handling in Step Functions").
func sdkError(service, prefix string, aerr *apiError) *taskError {
	reqID := randomHex(16)
	if aerr.code == "SerializationException" {
		return &taskError{"States.Runtime", aerr.message}
	}
	name := prefix + "." + prefix + "Exception"
	if shape, ok := modeledErrors[service][aerr.code]; ok {
		if shape == "" {
			shape = aerr.code
		}
		name = prefix + "." + shape
	}
	svcName := prefix
	return &taskError{name, aerr.message + " (Service: " + svcName + ", Status Code: " + itoa(aerr.status) + ", Request ID: " + reqID + ")"}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// isSDKResource reports whether a Task's Resource is an AWS SDK integration.
func isSDKResource(arn string) (integration, action string, ok bool) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:states:::aws-sdk:")
	if !ok {
		return "", "", false
	}
	integration, action, ok = strings.Cut(rest, ":")
	return integration, action, ok
}

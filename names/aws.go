package names

import (
	"fmt"
	"regexp"
	"strings"
)

// partitions are AWS's partitions and the shape of their region names, as
// the SDK resolves them: github.com/aws/aws-sdk-go-v2
// internal/endpoints/awsrulesfn/partitions.json (v1.48.0), field regionRegex.
// The SDK's "\w+" is narrowed to lower-case letters: every region AWS has
// named is lower case, and "\w" would let "US-EAST-1" or "us-e_st-1" through.
// Digits are bounded to two so that the patterns stay anchored to real
// shapes (the highest region number today is 7).
var partitions = []struct {
	id     string
	region *regexp.Regexp
}{
	{"aws", regexp.MustCompile(`^(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]{1,2}$`)},
	{"aws-cn", regexp.MustCompile(`^cn-[a-z]+-[0-9]{1,2}$`)},
	{"aws-us-gov", regexp.MustCompile(`^us-gov-[a-z]+-[0-9]{1,2}$`)},
	{"aws-iso", regexp.MustCompile(`^us-iso-[a-z]+-[0-9]{1,2}$`)},
	{"aws-iso-b", regexp.MustCompile(`^us-isob-[a-z]+-[0-9]{1,2}$`)},
	{"aws-iso-e", regexp.MustCompile(`^eu-isoe-[a-z]+-[0-9]{1,2}$`)},
	{"aws-iso-f", regexp.MustCompile(`^us-isof-[a-z]+-[0-9]{1,2}$`)},
	{"aws-eusc", regexp.MustCompile(`^eusc-de-[a-z]+-[0-9]{1,2}$`)},
}

// Partition returns the AWS partition of region ("aws" for eu-west-1,
// "aws-cn" for cn-north-1, "aws-us-gov" for us-gov-west-1, "aws-eusc" for
// eusc-de-east-1), or false when region has the shape of none.
func Partition(region string) (string, bool) {
	for _, p := range partitions {
		if p.region.MatchString(region) {
			return p.id, true
		}
	}
	return "", false
}

// Region returns nil if region has the shape of a region in one of AWS's
// partitions (see Partition). A region that AWS has not opened yet but that
// has the right shape (ap-southeast-9) is accepted: the SDK resolves it the
// same way, and the service then answers for itself.
func Region(region string) error {
	if _, ok := Partition(region); !ok {
		return refuse("an AWS region", region, "it is not a region of any AWS partition (like eu-west-1, cn-north-1, us-gov-west-1)")
	}
	return nil
}

// ARN is an Amazon Resource Name split at its colons:
// arn:Partition:Service:Region:Account:Resource
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html).
type ARN struct {
	Partition, Service, Region, Account, Resource string
}

// String returns the ARN as AWS writes it.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// maxARN bounds an ARN. IAM role ARNs, the longest Panda takes, are at most
// 2048 characters (AssumeRole's RoleArn, sts types), so nothing valid is
// longer.
const maxARN = 2048

// parseARN splits s into an ARN of service, checking what every ARN Panda
// takes shares: a real partition, the service, a 12-digit account, and a
// region that is empty when global is true and otherwise a region of the
// ARN's own partition (arn:aws-cn:…:us-east-1:… names nothing).
func parseARN(what, s, service string, global bool) (ARN, error) {
	if len(s) > maxARN {
		return ARN{}, refuse(what, s, "it is longer than %d characters", maxARN)
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, refuse(what, s, "it is not arn:PARTITION:%s:REGION:ACCOUNT:RESOURCE", service)
	}
	a := ARN{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}
	if !knownPartition(a.Partition) {
		return ARN{}, refuse(what, s, "%+q is not an AWS partition", a.Partition)
	}
	if a.Service != service {
		return ARN{}, refuse(what, s, "it is an ARN of %+q, not of %s", a.Service, service)
	}
	switch p, ok := Partition(a.Region); {
	case global && a.Region != "":
		return ARN{}, refuse(what, s, "%s ARNs have no region", service)
	case !global && !ok:
		return ARN{}, refuse(what, s, "%+q is not an AWS region", a.Region)
	case !global && p != a.Partition:
		return ARN{}, refuse(what, s, "region %s is in partition %s, not %s", a.Region, p, a.Partition)
	}
	if len(a.Account) != 12 || !allDigits(a.Account) {
		return ARN{}, refuse(what, s, "the account must be 12 digits")
	}
	return a, nil
}

func knownPartition(id string) bool {
	for _, p := range partitions {
		if p.id == id {
			return true
		}
	}
	return false
}

// maxSFNName is Step Functions' limit for state machine, alias and execution
// names (CreateStateMachine, CreateStateMachineAlias and StartExecution in
// github.com/aws/aws-sdk-go-v2/service/sfn: "1-80 characters").
const maxSFNName = 80

// sfnName returns why name is not a Step Functions name Panda accepts, or "".
// Step Functions forbids white space, brackets, wildcards, the specials
// " # % \ ^ | ~ ` $ & , ; : / and control characters, and recommends 0-9,
// A-Z, a-z, - and _ for CloudWatch logging (sfn CreateStateMachineInput.Name).
// Panda accepts that recommended set and ".", a subset of what Step Functions
// allows, so that a name is safe inside a console URL and check-run markdown.
func sfnName(name string) string {
	switch {
	case name == "":
		return "the name is empty"
	case len(name) > maxSFNName:
		return fmt.Sprintf("the name is longer than %d characters", maxSFNName)
	}
	return charProblem(name, func(r rune) bool { return isAlnum(r) || r == '-' || r == '_' || r == '.' })
}

// StateMachineARN returns the parsed ARN if s names a Step Functions state
// machine: arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME, with an
// optional ":VERSION" or ":ALIAS" qualifier, which StartExecution accepts
// (sfn StartExecutionInput.StateMachineArn). The partition must be one of
// AWS's and the region one of that partition's.
func StateMachineARN(s string) (ARN, error) {
	const what = "a state machine ARN"
	a, err := parseARN(what, s, "states", false)
	if err != nil {
		return ARN{}, err
	}
	kind, rest, _ := strings.Cut(a.Resource, ":")
	if kind != "stateMachine" {
		return ARN{}, refuse(what, s, "the resource must be stateMachine:NAME")
	}
	name, qualifier, qualified := strings.Cut(rest, ":")
	if p := sfnName(name); p != "" {
		return ARN{}, refuse(what, s, "%s", p)
	}
	if qualified {
		if p := sfnName(qualifier); p != "" {
			return ARN{}, refuse(what, s, "the version or alias: %s", strings.TrimPrefix(p, "the name "))
		}
	}
	return a, nil
}

// ExecutionARN returns the parsed ARN if s names a Step Functions execution:
// arn:PARTITION:states:REGION:ACCOUNT:execution:STATEMACHINE:NAME, as
// StartExecution and DescribeExecution return it.
func ExecutionARN(s string) (ARN, error) {
	const what = "an execution ARN"
	a, err := parseARN(what, s, "states", false)
	if err != nil {
		return ARN{}, err
	}
	parts := strings.Split(a.Resource, ":")
	if len(parts) != 3 || parts[0] != "execution" {
		return ARN{}, refuse(what, s, "the resource must be execution:STATEMACHINE:NAME")
	}
	for _, n := range parts[1:] {
		if p := sfnName(n); p != "" {
			return ARN{}, refuse(what, s, "%s", p)
		}
	}
	return a, nil
}

// RoleARN returns the parsed ARN if s names an IAM role:
// arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME. IAM's rules
// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html):
// the name is 1 to 64 of A-Z a-z 0-9 and +=,.@_-; the path is at most 512
// characters. IAM allows any printable ASCII in a path; Panda allows only the
// name characters there, as a path with ":" or "*" is always a mistake in a
// role meant to be assumed.
func RoleARN(s string) (ARN, error) {
	const what = "an IAM role ARN"
	a, err := parseARN(what, s, "iam", true)
	if err != nil {
		return ARN{}, err
	}
	rest, ok := strings.CutPrefix(a.Resource, "role/")
	if !ok {
		return ARN{}, refuse(what, s, "the resource must be role/NAME")
	}
	path, name := "", rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		path, name = rest[:i+1], rest[i+1:]
	}
	roleChar := func(r rune) bool { return isAlnum(r) || strings.ContainsRune("+=,.@_-", r) }
	switch {
	case name == "" || len(name) > 64:
		return ARN{}, refuse(what, s, "the role name must be 1 to 64 characters")
	case len(path) > 511 || strings.Contains(path, "//"):
		return ARN{}, refuse(what, s, "the role path must be at most 512 characters without empty parts")
	}
	if p := charProblem(name, roleChar); p != "" {
		return ARN{}, refuse(what, s, "%s", p)
	}
	if p := charProblem(path, func(r rune) bool { return r == '/' || roleChar(r) }); p != "" {
		return ARN{}, refuse(what, s, "%s", p)
	}
	return a, nil
}

// ECRRepository returns nil if name is an ECR repository name. Two sources
// state ECR's rule and they differ: the API reference
// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html)
// gives 2 to 256 characters matching
// (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*, and the
// documentation of the same field in github.com/aws/aws-sdk-go-v2/service/ecr
// (CreateRepositoryInput.RepositoryName) adds "The repository name must start
// with a letter". Panda applies both, the stricter reading.
func ECRRepository(name string) error {
	const what = "an ECR repository name"
	switch {
	case len(name) < 2 || len(name) > 256:
		return refuse(what, name, "it must be 2 to 256 characters")
	case !isLower(rune(name[0])):
		return refuse(what, name, "it must start with a lower-case letter")
	case !ecrRepository.MatchString(name):
		return refuse(what, name, "it must be lower-case letters and digits, joined by single . _ - or /")
	}
	return nil
}

var ecrRepository = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// ImageTag returns nil if tag is an image tag: the OCI distribution spec's
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests),
// which ECR's PutImage imageTag (1 to 300 characters) contains.
func ImageTag(tag string) error {
	const what = "an image tag"
	switch {
	case tag == "" || len(tag) > 128:
		return refuse(what, tag, "it must be 1 to 128 characters")
	case tag[0] == '.' || tag[0] == '-':
		return refuse(what, tag, "it must start with a letter, digit or _")
	}
	if p := charProblem(tag, func(r rune) bool { return isAlnum(r) || r == '_' || r == '.' || r == '-' }); p != "" {
		return refuse(what, tag, "%s", p)
	}
	return nil
}

// ECSName returns nil if name is an ECS cluster, service or task definition
// family name: 1 to 255 letters, digits, "-" and "_" (CreateCluster's
// clusterName, CreateService's serviceName and RegisterTaskDefinition's
// family in https://docs.aws.amazon.com/AmazonECS/latest/APIReference/).
func ECSName(name string) error {
	if p := ecsNameProblem(name); p != "" {
		return refuse("an ECS name", name, "%s", p)
	}
	return nil
}

func ecsNameProblem(name string) string {
	if name == "" || len(name) > 255 || charProblem(name, func(r rune) bool { return isAlnum(r) || r == '-' || r == '_' }) != "" {
		return "it must be 1 to 255 letters, digits, - and _"
	}
	return ""
}

// ECSCluster returns nil if s is an ECS cluster name (see ECSName) or a
// cluster ARN, arn:PARTITION:ecs:REGION:ACCOUNT:cluster/NAME, which every ECS
// call that takes a cluster accepts in its place.
func ECSCluster(s string) error {
	return ecsNameOrARN("an ECS cluster name or ARN", s, "cluster", "cluster/NAME", 1)
}

// ECSService returns nil if s is an ECS service name (see ECSName) or a
// service ARN: arn:PARTITION:ecs:REGION:ACCOUNT:service/CLUSTER/NAME, or the
// older service/NAME format
// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-account-settings.html#ecs-resource-ids).
func ECSService(s string) error {
	return ecsNameOrARN("an ECS service name or ARN", s, "service", "service/CLUSTER/NAME", 2)
}

// ecsNameOrARN checks a plain ECS name, or an ECS ARN whose resource is
// kind/ followed by at most maxParts names (form says how, for the message).
func ecsNameOrARN(what, s, kind, form string, maxParts int) error {
	if !strings.HasPrefix(s, "arn:") {
		if p := ecsNameProblem(s); p != "" {
			return refuse(what, s, "%s", p)
		}
		return nil
	}
	a, err := parseARN(what, s, "ecs", false)
	if err != nil {
		return err
	}
	rest, ok := strings.CutPrefix(a.Resource, kind+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) > maxParts {
		return refuse(what, s, "the resource must be %s", form)
	}
	for _, n := range parts {
		if p := ecsNameProblem(n); p != "" {
			return refuse(what, s, "%s", p)
		}
	}
	return nil
}

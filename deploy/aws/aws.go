// Package awsdeploy holds what Panda ships to install its side of AWS: the
// Amazon States Language definition of the Blue/Green rollout on Amazon ECS
// (bluegreen.asl.json) and the CloudFormation template that installs it with
// its IAM roles (panda.yaml). See README.md in this directory.
//
// The files are the source of truth; this package embeds them so that tests
// (internal/awstest walks the definition) use exactly what users install.
package awsdeploy

import (
	"bytes"
	_ "embed"
)

//go:embed bluegreen.asl.json
var blueGreenDefinition []byte

//go:embed panda.yaml
var template []byte

// BlueGreenDefinition returns the contents of bluegreen.asl.json. The caller
// owns the returned slice.
func BlueGreenDefinition() []byte { return bytes.Clone(blueGreenDefinition) }

// Template returns the contents of panda.yaml, the CloudFormation template.
// The caller owns the returned slice.
func Template() []byte { return bytes.Clone(template) }

// StageStates are the Task states of the definition that Panda's deploy stage
// reports as stage events, in the order a successful execution enters them.
func StageStates() []string {
	return []string{"EnsureInfra", "RegisterTaskDefinition", "UpdateService", "BlueGreenDeployment"}
}

// Package pipeline names the stages of a deployment and the error contract they share.
//
// The stages themselves live in subpackages so each can be read and tested alone:
//
//   - pipeline/source: clone exactly one commit over HTTPS with a header-borne token.
//   - pipeline/image: build the image on the Docker engine and push it to ECR.
//   - pipeline/rollout: start the Step Functions execution and follow it to its end.
//
// None of them knows about Redis, Asynq or GitHub check runs: they report progress
// through plain callbacks, and package jobs turns that into events and check runs.
package pipeline

// Stage is one step of a deployment, in the order they run.
type Stage string

// The stages, in order. Their string values appear in events, check-run names
// (panda/<stage>) and the result API.
const (
	StageClone  Stage = "clone"
	StageBuild  Stage = "build"
	StagePush   Stage = "push"
	StageDeploy Stage = "deploy"
)

// Stages lists every stage in the order a deployment runs them.
var Stages = []Stage{StageClone, StageBuild, StagePush, StageDeploy}

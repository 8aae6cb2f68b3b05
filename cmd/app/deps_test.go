package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAppLinksNoStage keeps the app free of the worker's machinery: it
// verifies, records and enqueues, and never runs a stage, so it must not link
// the Docker client, the stages of the pipeline, or the AWS SDKs only a stage
// calls. (The pipeline package itself is allowed: it is the stage names and
// the error contract, standard library only, which the API answers in.) A
// change that makes webhook or api import the worker's packages fails here.
func TestAppLinksNoStage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/docker/docker/",
		"github.com/moby/buildkit/",
		"github.com/pandadeploy/panda/pipeline/",
		"github.com/pandadeploy/panda/jobs",
		"github.com/aws/aws-sdk-go-v2/service/ecr",
		"github.com/aws/aws-sdk-go-v2/service/ecs",
		"github.com/aws/aws-sdk-go-v2/service/sfn",
		"github.com/aws/aws-sdk-go-v2/service/eventbridge",
	}
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		for _, f := range forbidden {
			// "x/" forbids what is below x; "x" forbids x and what is below it.
			if strings.HasPrefix(dep, f) && (strings.HasSuffix(f, "/") || dep == f || strings.HasPrefix(dep, f+"/")) {
				t.Errorf("cmd/app links %s", dep)
			}
		}
	}
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed %d packages; expected the app's whole graph", len(deps))
	}
}

package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/dockertest"
)

const dockerfile = "FROM scratch\nCOPY hello.txt /hello.txt\n"

// TestWebhookToDeployment posts a signed push webhook to the app binary and
// follows the deployment the worker binary makes of it, through the API and
// the event stream, to a green rollout.
func TestWebhookToDeployment(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.startApp()
	s.start("worker")
	sha := s.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hello\n"})

	body := pushPayload(t, sha)
	if code := s.postWebhook("push", "e2e-delivery-1", body); code != 202 {
		t.Fatalf("push webhook answered %d, want 202", code)
	}
	dep := s.waitFinal(sha, 3*time.Minute)
	if dep.Status != "SUCCEEDED" {
		t.Fatalf("deployment %s ended %s; log tail:\n%s", dep.ID, dep.Status, tail(s.logs.String(), 4000))
	}
	// A redelivery is acknowledged and starts nothing.
	if code := s.postWebhook("push", "e2e-delivery-1", body); code != 200 {
		t.Errorf("redelivery answered %d, want 200", code)
	}
	if deps := s.deployments(sha); len(deps) != 1 {
		t.Errorf("%d deployments after a redelivery, want 1", len(deps))
	}

	var result struct {
		Status      string `json:"status"`
		NewImageURI string `json:"newImageUri"`
		Metrics     map[string]any
	}
	if code := s.apiGet("/api/v1/deploy/"+dep.ID+"/result", &result); code != 200 {
		t.Fatalf("result answered %d", code)
	}
	if result.Status != "SUCCEEDED" || !strings.Contains(result.NewImageURI, "@sha256:") {
		t.Errorf("result %+v", result)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := s.readSSE(ctx, dep.ID)
	if len(names) < 5 || names[len(names)-1] != "done" {
		t.Errorf("event stream %v, want stage events ending in done", names)
	}
	if len(s.aws.Executions(s.smARN)) != 1 {
		t.Errorf("%d executions, want 1", len(s.aws.Executions(s.smARN)))
	}
	for _, secret := range []string{webhookSecret, apiToken, s.aws.Credentials().SecretAccessKey, "BEGIN RSA PRIVATE KEY", "ghs_"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("a secret (%.6s…) appeared in the logs", secret)
		}
	}
}

// TestWorkerKilledDuringBuild kills the worker with SIGKILL in the middle of a
// build and starts another: the deployment still ends once, with one execution.
func TestWorkerKilledDuringBuild(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	base := dockertest.BusyboxBase(t, dockertest.Client(t))
	s.startApp()
	worker := s.start("worker")
	sha := s.commit(map[string]string{"Dockerfile": "FROM " + base + "\nRUN sleep 4\nCOPY hello.txt /hello.txt\n", "hello.txt": "hi\n"})
	if code := s.postWebhook("push", "e2e-kill-1", pushPayload(t, sha)); code != 202 {
		t.Fatalf("push webhook answered %d", code)
	}
	// Wait until the build is running (its log streams into the events), then
	// kill the worker outright.
	s.waitEvent(sha, "RUN sleep 4", time.Minute)
	if err := worker.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = worker.Wait()
	s.start("worker")

	dep := s.waitFinal(sha, 4*time.Minute)
	if dep.Status != "SUCCEEDED" {
		t.Fatalf("deployment ended %s after the worker was killed; log tail:\n%s", dep.Status, tail(s.logs.String(), 4000))
	}
	if n := len(s.aws.Executions(s.smARN)); n != 1 {
		t.Fatalf("%d executions after a crash, want exactly 1", n)
	}
}

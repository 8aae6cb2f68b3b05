package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/internal/chromiumtest"
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
	frames := s.readSSE(ctx, dep.ID)
	checkSeedStream(t, frames)
	if len(s.aws.Executions(s.smARN)) != 1 {
		t.Errorf("%d executions, want 1", len(s.aws.Executions(s.smARN)))
	}
	// What a user opening the deployment's page sees, in a real browser, from
	// this deployment's own stream and result.
	b := chromiumtest.Start(t)
	session := b.Open("http://" + s.appAddr + "/deployments/" + dep.ID)
	// The page shows the result first and then plays the stream: it is done
	// once the stream's last event is in its log.
	page := b.WaitPage(session, "the deployment SUCCEEDED", 30*time.Second, func(p chromiumtest.Page) bool {
		return p.Status == "SUCCEEDED" && strings.Contains(p.Log, "[deploy] Deployment succeeded")
	})
	checkPage(t, page, frames)
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

// checkSeedStream checks a successful deployment's stream as the seed's
// clients read it (SEED-API.md, "Live progress"): event names stage then
// done, each data's type equal to its event name, the stage messages in the
// seed's words and order, and a done event whose details carry
// totalDuration (integer milliseconds) and both service URLs.
func checkSeedStream(t *testing.T, frames []sseFrame) {
	t.Helper()
	if len(frames) < 5 || frames[len(frames)-1].name != "done" {
		t.Fatalf("event stream of %d events, want stage events ending in done", len(frames))
	}
	var said []string
	for i, f := range frames {
		if f.data.Type != f.name {
			t.Errorf("event %d: type %q under event name %q", i, f.data.Type, f.name)
		}
		if f.name != "done" && f.name != "stage" {
			t.Errorf("event %d: name %q in a successful deployment", i, f.name)
		}
		if f.data.Timestamp.IsZero() {
			t.Errorf("event %d %q has no timestamp", i, f.data.Message)
		}
		if _, err := events.Parse(f.data.Event); err != nil {
			t.Errorf("event %d %q is of no kind of package events: %v", i, f.data.Message, err)
		}
		switch f.data.Message {
		case "Git Clone started", "Git Clone succeeded", "Docker Build started", "Docker Build succeeded",
			"ECR Push started", "ECR Push succeeded", "Deployment started", "Deployment succeeded":
			said = append(said, f.data.Message)
		}
	}
	want := "Git Clone started,Git Clone succeeded,Docker Build started,Docker Build succeeded," +
		"ECR Push started,ECR Push succeeded,Deployment started,Deployment succeeded"
	if got := strings.Join(said, ","); got != want {
		t.Errorf("stage messages\n got %s\nwant %s", got, want)
	}
	var done map[string]any
	if err := json.Unmarshal(frames[len(frames)-1].data.Details, &done); err != nil {
		t.Fatalf("done details: %v", err)
	}
	total, ok := done["totalDuration"].(float64)
	if !ok || total <= 0 || total != float64(int64(total)) {
		t.Errorf("done totalDuration %v, want a positive integer of milliseconds", done["totalDuration"])
	}
	if green, _ := done["greenServiceUrl"].(string); !strings.HasPrefix(green, "http") {
		t.Errorf("done greenServiceUrl %q", done["greenServiceUrl"])
	}
	if _, ok := done["blueServiceUrl"].(string); !ok {
		t.Errorf("done has no blueServiceUrl: %v", done)
	}
}

// checkPage checks what the deployment page showed at the end of the
// deployment whose stream was frames: every stage succeeded with a duration,
// the final status, the URLs and the total duration the done event carried,
// and the stream's messages in the log.
func checkPage(t *testing.T, p chromiumtest.Page, frames []sseFrame) {
	t.Helper()
	for _, st := range []string{"clone", "build", "push", "deploy"} {
		if p.Stages[st] != "succeeded" || !strings.HasSuffix(p.Durations[st], " s") {
			t.Errorf("page shows stage %s %q for %q, want succeeded with a duration", st, p.Stages[st], p.Durations[st])
		}
	}
	var done struct {
		TotalDuration   int64  `json:"totalDuration"`
		GreenServiceURL string `json:"greenServiceUrl"`
	}
	_ = json.Unmarshal(frames[len(frames)-1].data.Details, &done)
	if p.Green != done.GreenServiceURL {
		t.Errorf("page shows green %q, the stream said %q", p.Green, done.GreenServiceURL)
	}
	if p.Duration == "" {
		t.Errorf("page shows no duration (the stream said %d ms)", done.TotalDuration)
	}
	if !strings.Contains(p.Image, "@sha256:") {
		t.Errorf("page shows image %q", p.Image)
	}
	if p.Error != "" {
		t.Errorf("page shows an error: %q", p.Error)
	}
	for _, msg := range []string{"[clone] Git Clone succeeded", "[build] Docker Build succeeded", "[push] ECR Push succeeded", "[deploy] Deployment succeeded"} {
		if !strings.Contains(p.Log, msg) {
			t.Errorf("page log lacks %q", msg)
		}
	}
}

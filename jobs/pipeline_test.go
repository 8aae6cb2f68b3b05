package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

const dockerfile = "FROM scratch\nCOPY hello.txt /hello.txt\n"

func TestPushDeploysToProduction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	committed := time.Now().Truncate(time.Second) // git's dates are whole seconds
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi\n"}, h.pandaYML(""))
	h.push(sha, "ship it")
	dep := h.waitFinal(sha, 3*time.Minute)

	if dep.Status != store.StatusSucceeded {
		t.Fatalf("status %s (%s: %s), want SUCCEEDED", dep.Status, dep.ErrorStage, dep.Error)
	}
	// The commit's date, read by the clone, is recorded and audited: the
	// delivery metrics' lead time runs from it.
	if dep.CommitTime.Before(committed) || dep.CommitTime.After(time.Now()) {
		t.Errorf("commit time %v, want the commit's date (after %v)", dep.CommitTime, committed)
	}
	finished, err := audit.New(h.rdb, 0).Deliveries(t.Context(), testRepo, "production", committed.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil || len(finished) != 1 || !finished[0].CommitTime.Equal(dep.CommitTime) || finished[0].AcceptedAt.IsZero() {
		t.Errorf("audited deliveries %+v (%v), want this one with its commit time %v", finished, err, dep.CommitTime)
	}
	for _, stage := range []string{"clone", "build", "push", "deploy"} {
		if dep.StageDurations[stage] <= 0 {
			t.Errorf("no duration for stage %s: %v", stage, dep.StageDurations)
		}
	}
	// The image Panda reported is in the registry under the commit's tag.
	_, digest, ok := strings.Cut(dep.ImageURI, "@")
	if !ok {
		t.Fatalf("image URI %q has no digest", dep.ImageURI)
	}
	got, err := h.reg.ManifestDigest("acme-app", sha)
	if err != nil || got != digest {
		t.Fatalf("registry has %s:%s at %q (%v), Panda reported %s", "acme-app", sha, got, err, digest)
	}
	if enabled, exists := h.aws.ScanOnPush("acme-app"); !exists || !enabled {
		t.Errorf("ECR repository exists=%v scanOnPush=%v", exists, enabled)
	}
	// Exactly one execution, with the expected input.
	execs := h.aws.Executions(h.smARN)
	if len(execs) != 1 {
		t.Fatalf("%d executions, want 1", len(execs))
	}
	out, err := sfn.NewFromConfig(h.aws.Config()).DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: &execs[0]})
	if err != nil {
		t.Fatal(err)
	}
	var input map[string]any
	if err := json.Unmarshal([]byte(*out.Input), &input); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"imageUri": dep.ImageURI, "cluster": "prod", "service": "web", "taskFamily": "web",
		"containerPort": 8080.0, "desiredCount": 2.0, "repository": testRepo, "commit": sha, "environment": "production", "deploymentId": dep.ID}
	for k, v := range want {
		if input[k] != v {
			t.Errorf("execution input %s = %v, want %v", k, input[k], v)
		}
	}
	if *out.Name != dep.ID {
		t.Errorf("execution name %s, want the deployment id %s", *out.Name, dep.ID)
	}
	if dep.GreenURL == "" {
		t.Error("no green URL from the execution output")
	}
	// Events arrive in stage order and end with done.
	evs := h.events(dep.ID)
	var order []string
	for _, ev := range evs {
		if _, started := parse(t, ev).(events.StageStarted); started {
			order = append(order, ev.Stage)
		}
	}
	if strings.Join(order, ",") != "clone,build,push,deploy" {
		t.Errorf("stages started in order %v", order)
	}
	if last := evs[len(evs)-1]; last.Type != store.EventDone {
		t.Errorf("last event %+v, want done", last)
	}
	states := map[string]bool{}
	for _, ev := range evs {
		if sc, ok := parse(t, ev).(events.StateChanged); ok {
			states[sc.SFNState] = true
		}
	}
	for _, s := range []string{"EnsureInfra", "RegisterTaskDefinition", "UpdateService", "BlueGreenDeployment"} {
		if !states[s] {
			t.Errorf("no event for state %s", s)
		}
	}
	// Four check runs, all concluded success, and the controls run (neutral),
	// linked to the deployment.
	runs := h.gh.CheckRuns(testRepo)
	if len(runs) != 5 {
		t.Fatalf("%d check runs, want 5", len(runs))
	}
	for _, r := range runs {
		want := "success"
		if r.Name == "panda" {
			want = "neutral"
		}
		if r.Status != "completed" || r.Conclusion != want || r.ExternalID != dep.ID {
			t.Errorf("check run %s: %s/%s external_id %s", r.Name, r.Status, r.Conclusion, r.ExternalID)
		}
	}
	h.workDirEmpty()
	if strings.Contains(h.logs.String(), "ghs_") {
		t.Error("an installation token reached the log")
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		files     map[string]string
		setup     func(h *harness)
		timeout   time.Duration
		badSHA    bool
		wantState store.Status
		wantStage string
		wantMsg   string
	}{
		{name: "unknown-commit", badSHA: true, wantState: store.StatusFailed, wantStage: "clone", wantMsg: "not"},
		{name: "missing-dockerfile", files: map[string]string{"hello.txt": "hi"}, wantState: store.StatusFailed, wantStage: "build", wantMsg: "Dockerfile"},
		{name: "failing-run", files: map[string]string{"Dockerfile": "FROM {{busybox}}\nRUN true\nRUN false\n"}, wantState: store.StatusFailed, wantStage: "build", wantMsg: "line 3"},
		{name: "registry-refuses", files: map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi"}, setup: func(h *harness) { h.reg.RefusePushes(403) }, wantState: store.StatusFailed, wantStage: "push", wantMsg: ""},
		{name: "execution-fails-at-update-service", files: map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi"},
			setup: func(h *harness) {
				h.aws.SetOutcome(h.smARN, awstest.Outcome{FailAt: "UpdateService", Cause: "service web not found"})
			},
			wantState: store.StatusFailed, wantStage: "deploy", wantMsg: "UpdateService"},
		{name: "execution-never-ends", files: map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi"},
			setup:   func(h *harness) { h.aws.SetOutcome(h.smARN, awstest.Outcome{HangAt: "BlueGreenDeployment"}) },
			timeout: 2 * time.Second, wantState: store.StatusTimeout, wantStage: "deploy", wantMsg: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.timeout)
			files := map[string]string{}
			for k, v := range tt.files {
				files[k] = strings.ReplaceAll(v, "{{busybox}}", dockertest.BusyboxBase(t, h.docker))
			}
			if tt.setup != nil {
				tt.setup(h)
			}
			sha := h.commit(files, h.pandaYML(""))
			if tt.badSHA {
				sha = strings.Repeat("ab", 20)
				h.gh.SetFile(testRepo, sha, ".panda.yml", []byte(h.pandaYML("")))
			}
			h.push(sha, "change")
			dep := h.waitFinal(sha, 3*time.Minute)
			if dep.Status != tt.wantState || dep.ErrorStage != tt.wantStage {
				t.Fatalf("status %s at stage %q (%s), want %s at %s", dep.Status, dep.ErrorStage, dep.Error, tt.wantState, tt.wantStage)
			}
			if !strings.Contains(strings.ToLower(dep.Error), strings.ToLower(tt.wantMsg)) {
				t.Errorf("error %q does not mention %q", dep.Error, tt.wantMsg)
			}
			evs := h.events(dep.ID)
			last := evs[len(evs)-1]
			if last.Type != store.EventError || last.Stage != tt.wantStage {
				t.Errorf("last event %+v, want an error event naming %s", last, tt.wantStage)
			}
			for _, r := range h.gh.CheckRuns(testRepo) {
				if r.Status != "completed" {
					t.Errorf("check run %s left %s", r.Name, r.Status)
				}
			}
			h.workDirEmpty()
		})
	}
}

// TestOneRolloutPerEnvironment holds the environment with a rollout that does
// not end, then pushes twice more: the older waiting push is SUPERSEDED by the
// newer, which waits its turn, and no two executions ever overlap.
func TestOneRolloutPerEnvironment(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ctx := context.Background()
	files := func(n string) map[string]string {
		return map[string]string{"Dockerfile": dockerfile, "hello.txt": n}
	}
	h.aws.SetOutcome(h.smARN, awstest.Outcome{HangAt: "BlueGreenDeployment"})
	shaA := h.commit(files("a"), h.pandaYML(""))
	h.push(shaA, "a")
	a := h.waitFor(shaA, func(d *store.Deployment) bool { return d.ExecutionARN != "" })
	h.aws.SetOutcome(h.smARN, awstest.Outcome{})

	shaB := h.commit(files("b"), h.pandaYML(""))
	h.push(shaB, "b")
	// "Newer" is the order Panda accepted the pushes in: let B be accepted
	// before C is pushed, as two pushes seconds apart are.
	h.waitFor(shaB, func(*store.Deployment) bool { return true })
	shaC := h.commit(files("c"), h.pandaYML(""))
	h.push(shaC, "c")
	b := h.waitFinal(shaB, 3*time.Minute)
	if b.Status != store.StatusSuperseded {
		t.Fatalf("older waiting push ended %s (%s), want SUPERSEDED", b.Status, b.Error)
	}
	c := h.waitFor(shaC, func(d *store.Deployment) bool {
		for _, ev := range h.events(d.ID) {
			if strings.HasPrefix(ev.Message, "Queued behind "+a.ID) {
				return true
			}
		}
		return false
	})
	if c.ExecutionARN != "" {
		t.Fatal("a second execution started while the environment was busy")
	}

	sfnc := sfn.NewFromConfig(h.aws.Config())
	if _, err := sfnc.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: &a.ExecutionARN}); err != nil {
		t.Fatal(err)
	}
	if a = h.waitFinal(shaA, 3*time.Minute); a.Status != store.StatusCanceled {
		t.Errorf("stopped rollout ended %s, want CANCELED", a.Status)
	}
	if c = h.waitFinal(shaC, 3*time.Minute); c.Status != store.StatusSucceeded {
		t.Fatalf("newest push ended %s (%s), want SUCCEEDED", c.Status, c.Error)
	}
	execs := h.aws.Executions(h.smARN)
	if len(execs) != 2 {
		t.Fatalf("%d executions, want 2 (the stopped one and the newest)", len(execs))
	}
	first, _ := sfnc.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: &a.ExecutionARN})
	second, _ := sfnc.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: &c.ExecutionARN})
	if first.StopDate == nil || second.StartDate.Before(*first.StopDate) {
		t.Errorf("executions overlap: first stopped %v, second started %v", first.StopDate, second.StartDate)
	}
}

func TestHostileInputIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	pwned := filepath.Join(t.TempDir(), "pwned")
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi"}, h.pandaYML(""))
	for i, p := range []tasks.PushPayload{
		{Repo: testRepo, Branch: "--upload-pack=touch " + pwned, SHA: sha},
		{Repo: "acme/..", Branch: "main", SHA: sha},
		{Repo: "acme/app/../../etc", Branch: "main", SHA: sha},
		{Repo: testRepo, Branch: "main", SHA: "--output=" + pwned},
	} {
		p.Delivery = tasks.Delivery{HookID: "1", ID: fmt.Sprintf("hostile-%d", i)}
		p.InstallationID = testInst
		task, err := tasks.NewPushTask(p)
		if err != nil {
			t.Fatal(err)
		}
		info, err := h.queue.Enqueue(task)
		if err != nil {
			t.Fatal(err)
		}
		h.waitArchived(info.ID)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a hostile payload ran a command")
	}
	if list, _ := h.store.List(context.Background(), store.Filter{}); len(list) != 0 {
		t.Fatalf("%d deployments made from hostile payloads", len(list))
	}
	if reqs := h.git.Requests(); len(reqs) != 0 {
		t.Fatalf("git server was contacted %d times", len(reqs))
	}

	// A Dockerfile path out of the repository is a config error on its line.
	bad := h.pandaYML("    dockerfile: ../../etc/passwd\n")
	sha = h.commit(map[string]string{"Dockerfile": dockerfile}, bad)
	h.push(sha, "escape")
	var run *githubtest.CheckRun
	for deadline := time.Now().Add(30 * time.Second); run == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, r := range h.gh.CheckRuns(testRepo) {
			if r.HeadSHA == sha {
				run = &r
			}
		}
	}
	if run == nil || run.Conclusion != "failure" || len(run.Output.Annotations) != 1 || run.Output.Annotations[0].StartLine != 11 {
		t.Fatalf("check run for a Dockerfile path out of the repo: %+v", run)
	}
	if list, _ := h.store.List(context.Background(), store.Filter{SHA: sha}); len(list) != 0 {
		t.Fatal("a deployment was made from an invalid .panda.yml")
	}
}

// TestEventBridgeTrigger deploys in the seed's mode: Panda ensures the rule,
// pushes, and follows the execution the rule started for the image.
func TestEventBridgeTrigger(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	yml := h.pandaYML("    trigger: eventbridge\n    events_role_arn: arn:aws:iam::" + h.aws.Account() + ":role/panda-events\n")
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "eb"}, yml)
	h.push(sha, "via eventbridge")
	dep := h.waitFor(sha, func(d *store.Deployment) bool { return d.ImageURI != "" })
	_, digest, _ := strings.Cut(dep.ImageURI, "@")
	// Stand in for ECR: it tells EventBridge about the push it received.
	if started := h.aws.EmitECRPush("acme-app", "panda.production."+sha, digest); len(started) != 1 {
		t.Fatalf("the push event started %d executions, want 1 (is the rule there?)", len(started))
	}
	dep = h.waitFinal(sha, 3*time.Minute)
	if dep.Status != store.StatusSucceeded {
		t.Fatalf("status %s (%s)", dep.Status, dep.Error)
	}
	if n := h.aws.CallCount("StartExecution"); n != 0 {
		t.Errorf("Panda called StartExecution %d times in EventBridge mode", n)
	}
	if tags := h.reg.Tags("acme-app"); len(tags) != 1 || tags[0] != "panda.production."+sha {
		t.Errorf("pushed tags %v, want only the environment's trigger tag (each tag the rule matches starts an execution)", tags)
	}
	execs := h.aws.Executions(h.smARN)
	if len(execs) != 1 || execs[0] != dep.ExecutionARN {
		t.Fatalf("executions %v, deployment followed %s", execs, dep.ExecutionARN)
	}
	out, err := sfn.NewFromConfig(h.aws.Config()).DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: &execs[0]})
	if err != nil {
		t.Fatal(err)
	}
	var input map[string]any
	if err := json.Unmarshal([]byte(*out.Input), &input); err != nil {
		t.Fatal(err)
	}
	if input["cluster"] != "prod" || input["commit"] != "panda.production."+sha || !strings.HasSuffix(input["imageUri"].(string), "@"+digest) {
		t.Errorf("execution input from the rule: %v", input)
	}
}

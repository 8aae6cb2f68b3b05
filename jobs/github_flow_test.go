package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/deployment"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

const bot = githubtest.AppSlug + "[bot]"

// qaEnv is a second environment, deployed by comment only.
func qaEnv(smARN string) string {
	return `  qa:
    region: us-east-1
    state_machine_arn: ` + smARN + `
    cluster: qa
    service: web
    task_family: web
    container_port: 8080
`
}

// openPR commits files on a feature branch and opens pull request number
// from it, with .panda.yml served at its head. It returns the head SHA.
func (h *harness) openPR(number int, yml string, pr githubtest.PullRequest) string {
	h.t.Helper()
	files := map[string]string{"Dockerfile": dockerfile, "hello.txt": "pr " + h.t.Name() + "\n", ".panda.yml": yml}
	sha := h.repo.Commit("feature", files, "feature")
	h.gh.SetFile(testRepo, sha, ".panda.yml", []byte(yml))
	pr.Number, pr.HeadSHA, pr.HeadRef, pr.BaseRef = number, sha, "feature", "main"
	h.gh.AddPullRequest(testRepo, pr)
	return sha
}

// commentTask returns the task the intake makes of a comment on number,
// with a fresh delivery.
func (h *harness) commentTask(number int, isPR bool, author, body string) (*asynq.Task, int64) {
	h.t.Helper()
	id := h.gh.AddComment(testRepo, number, githubtest.Comment{User: author, Body: body})
	first, _, _ := strings.Cut(body, "\n")
	task, err := tasks.NewCommentTask(tasks.CommentPayload{
		Delivery:       tasks.Delivery{HookID: "1", ID: store.NewID()},
		InstallationID: testInst, Repo: testRepo, Issue: number, PullRequest: isPR,
		CommentID: id, Command: first, Author: author,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return task, id
}

func (h *harness) enqueue(task *asynq.Task) {
	h.t.Helper()
	if _, err := h.queue.Enqueue(task); err != nil {
		h.t.Fatal(err)
	}
}

// press enqueues the task the intake makes of a check run request on dep's
// deploy check run.
func (h *harness) press(dep *store.Deployment, action, identifier, sender string) {
	h.t.Helper()
	task, err := tasks.NewCheckRunTask(tasks.CheckRunPayload{
		Delivery:       tasks.Delivery{HookID: "1", ID: store.NewID()},
		InstallationID: testInst, Repo: testRepo, Action: action, CheckRunID: dep.CheckRuns["deploy"],
		ExternalID: dep.ID, HeadSHA: dep.SHA, Identifier: identifier, Sender: sender,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.enqueue(task)
}

// waitDeployments waits until the repository has n deployments, all final,
// and returns them newest first.
func (h *harness) waitDeployments(n int, within time.Duration) []*store.Deployment {
	h.t.Helper()
	var list []*store.Deployment
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if list, err = h.store.List(context.Background(), store.Filter{Repo: testRepo}); err != nil {
			h.t.Fatal(err)
		}
		if len(list) > n {
			h.t.Fatalf("%d deployments, want %d", len(list), n)
		}
		final := len(list) == n
		for _, d := range list {
			final = final && d.Status.Final()
		}
		if final {
			return list
		}
	}
	h.t.Fatalf("%d deployments (want %d final) after %v", len(list), n, within)
	return nil
}

// waitReply waits for Panda's n-th reply on issue number.
func (h *harness) waitReply(number, n int) []githubtest.Comment {
	h.t.Helper()
	var replies []githubtest.Comment
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		replies = replies[:0]
		for _, c := range h.gh.Comments(testRepo, number) {
			if c.User == bot {
				replies = append(replies, c)
			}
		}
		if len(replies) >= n {
			return replies
		}
	}
	h.t.Fatalf("%d replies on #%d, want %d", len(replies), number, n)
	return nil
}

func reactions(h *harness, commentID int64) string {
	var out []string
	for _, r := range h.gh.Reactions(commentID) {
		out = append(out, r.Content)
	}
	return strings.Join(out, ",")
}

func TestCommentDeploysPullRequestHead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "write")
	sha := h.openPR(7, h.pandaYML(""), githubtest.PullRequest{User: "alice"})
	task, commentID := h.commentTask(7, true, "alice", "/deploy\nthanks!")
	h.enqueue(task)

	dep := h.waitDeployments(1, 3*time.Minute)[0]
	if dep.Status != store.StatusSucceeded || dep.SHA != sha || dep.Environment != "production" {
		t.Fatalf("deployment %s of %s to %s (%s), want SUCCEEDED of the PR head %s to production", dep.Status, dep.SHA, dep.Environment, dep.Error, sha)
	}
	if dep.Trigger != "comment" || dep.PullRequest != 7 || dep.CommentID != commentID || dep.Actor != "alice" {
		t.Errorf("record trigger %q pr %d comment %d actor %q", dep.Trigger, dep.PullRequest, dep.CommentID, dep.Actor)
	}
	replies := h.waitReply(7, 1)
	if want := "http://panda.test/deployments/" + dep.ID; len(replies) != 1 || !strings.Contains(replies[0].Body, want) {
		t.Errorf("replies %+v, want one linking %s", replies, want)
	}
	waitFor(t, func() bool { return reactions(h, commentID) == "eyes,rocket" }, "reactions eyes then rocket")

	// A retry of the delivery's task (here: after it succeeded) deploys
	// nothing new and replies nothing new.
	if err := h.intake.HandleComment(context.Background(), task); err != nil {
		t.Fatalf("retried comment task: %v", err)
	}
	if n := len(h.waitReply(7, 1)); n != 1 {
		t.Errorf("%d replies after a retry, want 1", n)
	}
	if list, _ := h.store.List(context.Background(), store.Filter{Repo: testRepo}); len(list) != 1 {
		t.Errorf("%d deployments after a retry, want 1", len(list))
	}
	checkGitHubDeployment(t, h, dep)
}

// checkGitHubDeployment asserts the GitHub Deployment of a successful dep and
// the body Panda sent to create it.
func checkGitHubDeployment(t *testing.T, h *harness, dep *store.Deployment) {
	t.Helper()
	var gd *githubtest.Deployment
	for _, d := range h.gh.Deployments(testRepo) {
		if d.ID == dep.GitHubDeploymentID {
			gd = &d
		}
	}
	if gd == nil {
		t.Fatalf("no GitHub deployment %d for %s", dep.GitHubDeploymentID, dep.ID)
	}
	if gd.SHA != dep.SHA || gd.Environment != dep.Environment || gd.TransientEnvironment {
		t.Errorf("GitHub deployment of %s to %s (transient %v)", gd.SHA, gd.Environment, gd.TransientEnvironment)
	}
	var states []string
	for _, s := range gd.Statuses {
		states = append(states, s.State)
	}
	if got := strings.Join(states, ","); !strings.HasPrefix(got, "in_progress,success") {
		t.Errorf("GitHub deployment statuses %s, want in_progress,success", got)
	}
	if len(gd.Statuses) >= 2 {
		// The environment URL is the production listener (blue), since c86d8e4.
		st := gd.Statuses[1]
		// The environment's URL is production's listener (blueServiceUrl), not the test one.
		if st.EnvironmentURL != dep.BlueURL || st.LogURL != "http://panda.test/deployments/"+dep.ID {
			t.Errorf("success status environment_url %q log_url %q", st.EnvironmentURL, st.LogURL)
		}
	}
	for _, r := range h.gh.Requests() {
		if r.Method != "POST" || !strings.HasSuffix(r.Path, "/deployments") {
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		ctxs, _ := body["required_contexts"].([]any)
		if body["auto_merge"] != false || ctxs == nil || len(ctxs) != 0 || body["transient_environment"] != false {
			t.Errorf("create deployment body %s: want auto_merge false, required_contexts [], transient_environment false", r.Body)
		}
	}
}

// settled waits until finish has reported dep's end on GitHub, the last thing
// it does: its status is written before its check runs are concluded and its
// GitHub Deployment gets its final status.
func (h *harness) settled(dep *store.Deployment) {
	h.t.Helper()
	waitFor(h.t, func() bool {
		for _, gd := range h.gh.Deployments(testRepo) {
			if n := len(gd.Statuses); gd.ID == dep.GitHubDeploymentID && n > 0 {
				switch gd.Statuses[n-1].State {
				case "success", "failure", "error", "inactive":
					return true
				}
			}
		}
		return false
	}, "the end of "+dep.ID+" reported on GitHub")
}

// waitFor waits for cond, as long as a deployment may take on a loaded
// machine (the jobs tests run beside e2e on two cores).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting: %s", what)
}

func TestCommentRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	yml := h.pandaYML(qaEnv(h.smARN))
	for user, role := range map[string]string{"writer": "write", "reader": "read", "triager": "triage"} {
		h.gh.SetPermission(testRepo, user, role)
	}
	tests := []struct {
		name      string
		number    int
		pr        *githubtest.PullRequest // nil: a plain issue
		author    string
		body      string
		wantReply []string
	}{
		{name: "reader", number: 11, pr: &githubtest.PullRequest{}, author: "reader", body: "/deploy production", wantReply: []string{"@reader", "write access", "did not deploy"}},
		{name: "triager", number: 12, pr: &githubtest.PullRequest{}, author: "triager", body: "/deploy production", wantReply: []string{"write access"}},
		{name: "stranger", number: 13, pr: &githubtest.PullRequest{}, author: "stranger", body: "/deploy production", wantReply: []string{"write access"}},
		{name: "fork", number: 14, pr: &githubtest.PullRequest{HeadRepo: "mallory/app"}, author: "writer", body: "/deploy production", wantReply: []string{"fork"}},
		{name: "unknown-environment", number: 15, pr: &githubtest.PullRequest{}, author: "writer", body: "/deploy staging", wantReply: []string{"`staging`", "`production`, `qa`"}},
		{name: "no-default-among-two", number: 16, pr: &githubtest.PullRequest{}, author: "writer", body: "/deploy", wantReply: []string{"Name an environment", "`production`, `qa`"}},
		{name: "extra-words", number: 17, pr: &githubtest.PullRequest{}, author: "writer", body: "/deploy qa please", wantReply: []string{"/deploy <environment>"}},
		{name: "closed", number: 18, pr: &githubtest.PullRequest{State: "closed"}, author: "writer", body: "/deploy qa", wantReply: []string{"closed"}},
		{name: "plain-issue", number: 19, author: "writer", body: "/deploy", wantReply: []string{"pull request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.pr != nil {
				tt.pr.User = tt.author
				h.gh.AddPullRequest(testRepo, githubtest.PullRequest{
					Number: tt.number, HeadSHA: h.commit(map[string]string{"x": tt.name}, yml),
					HeadRef: "feature", BaseRef: "main", State: tt.pr.State, HeadRepo: tt.pr.HeadRepo, User: tt.author,
				})
			}
			task, commentID := h.commentTask(tt.number, tt.pr != nil, tt.author, tt.body)
			h.enqueue(task)
			replies := h.waitReply(tt.number, 1)
			for _, want := range tt.wantReply {
				if !strings.Contains(replies[0].Body, want) {
					t.Errorf("reply %q does not say %q", replies[0].Body, want)
				}
			}
			if got := reactions(h, commentID); got != "eyes" {
				t.Errorf("reactions %q, want eyes", got)
			}
		})
	}
	if list, _ := h.store.List(context.Background(), store.Filter{}); len(list) != 0 {
		t.Errorf("%d deployments after refusals, want none", len(list))
	}
	if d := h.gh.Deployments(testRepo); len(d) != 0 {
		t.Errorf("%d GitHub deployments after refusals, want none", len(d))
	}
	for _, r := range h.gh.CheckRuns(testRepo) {
		t.Errorf("check run %s created by a refused comment", r.Name)
	}
}

// TestReplyAfterLostAnswer: an attempt that began posting a reply and never
// learnt whether it landed is followed by one that looks before posting.
func TestReplyAfterLostAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ctx := context.Background()
	h.gh.SetPermission(testRepo, "reader", "read")
	h.gh.AddPullRequest(testRepo, githubtest.PullRequest{Number: 21, HeadSHA: strings.Repeat("a", 40), HeadRef: "f", BaseRef: "main"})

	// The earlier attempt's reply landed, but its answer was lost.
	task, _ := h.commentTask(21, true, "reader", "/deploy")
	var p tasks.CommentPayload
	if err := json.Unmarshal(task.Payload(), &p); err != nil {
		t.Fatal(err)
	}
	key := "comment:" + p.Delivery.TaskID()
	if _, _, err := h.store.BeginReply(ctx, key); err != nil {
		t.Fatal(err)
	}
	h.gh.AddComment(testRepo, 21, githubtest.Comment{User: bot, Body: "earlier\n\n<!-- panda:reply:" + key + " -->"})
	if err := h.intake.HandleComment(ctx, task); err != nil {
		t.Fatal(err)
	}
	if n := len(h.waitReply(21, 1)); n != 1 {
		t.Errorf("%d replies, want the earlier attempt's only", n)
	}

	// The earlier attempt's reply did not land: it is posted, once.
	task, _ = h.commentTask(21, true, "reader", "/deploy")
	if err := json.Unmarshal(task.Payload(), &p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.store.BeginReply(ctx, "comment:"+p.Delivery.TaskID()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := h.intake.HandleComment(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.waitReply(21, 2)); n != 2 {
		t.Errorf("%d replies, want 2", n)
	}
}

func TestRerunDeploysTheCommitAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "write")
	h.gh.SetPermission(testRepo, "rob", "read")
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi\n"}, h.pandaYML(""))
	h.push(sha, "ship")
	first := h.waitFinal(sha, 3*time.Minute)

	// Presses Panda must ignore: a reader's, and a check run that is not a deployment's.
	h.press(first, "rerequested", "", "rob")
	other := *first
	other.ID = "config:abc"
	h.press(&other, "rerequested", "", "alice")

	h.press(first, "rerequested", "", "alice")
	list := h.waitDeployments(2, 3*time.Minute)
	again := list[0]
	h.settled(again)
	if again.SHA != sha || again.Environment != first.Environment || again.Trigger != "rerun" || again.Actor != "alice" {
		t.Errorf("re-run deployment %+v", again)
	}
	if again.Status != store.StatusSucceeded {
		t.Errorf("re-run %s: %s", again.Status, again.Error)
	}
	if n := len(h.gh.CheckRuns(testRepo)); n != 10 {
		t.Errorf("%d check runs, want 4 and the controls run per deployment", n)
	}
	time.Sleep(500 * time.Millisecond) // the ignored presses had their time
	if list, _ := h.store.List(context.Background(), store.Filter{Repo: testRepo}); len(list) != 2 {
		t.Errorf("%d deployments, want 2", len(list))
	}
	// Each GitHub Deployment went in_progress → success, and the second
	// success made the first inactive.
	gds := h.gh.Deployments(testRepo)
	if len(gds) != 2 {
		t.Fatalf("%d GitHub deployments, want 2", len(gds))
	}
	for i, want := range []string{"in_progress,success,inactive", "in_progress,success"} {
		var states []string
		for _, s := range gds[i].Statuses {
			states = append(states, s.State)
		}
		if got := strings.Join(states, ","); got != want {
			t.Errorf("GitHub deployment %d statuses %s, want %s", i, got, want)
		}
	}
	checkGitHubDeployment(t, h, again)
}

func TestCancelStopsTheRunningExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "write")
	h.aws.SetOutcome(h.smARN, awstestHang())
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi\n"}, h.pandaYML(""))
	h.push(sha, "ship")
	var dep *store.Deployment
	waitFor(t, func() bool {
		list, _ := h.store.List(context.Background(), store.Filter{Repo: testRepo})
		if len(list) == 1 && list[0].ExecutionARN != "" {
			dep = list[0]
		}
		return dep != nil
	}, "the execution to start")
	h.pressVisible(dep, checks.ActionCancel, "alice") // the Cancel GitHub displays, on the completed controls run
	dep = h.waitFinal(sha, 3*time.Minute)
	h.settled(dep)
	if dep.Status != store.StatusCanceled {
		t.Fatalf("status %s (%s), want CANCELED", dep.Status, dep.Error)
	}
	for _, r := range h.gh.CheckRuns(testRepo) {
		if r.Name == "panda/deploy" && r.Conclusion != "cancelled" {
			t.Errorf("deploy check run %s/%s, want cancelled", r.Status, r.Conclusion)
		}
	}
	gds := h.gh.Deployments(testRepo)
	if len(gds) != 1 || len(gds[0].Statuses) == 0 || gds[0].Statuses[len(gds[0].Statuses)-1].State != "inactive" {
		t.Errorf("GitHub deployments %+v, want one ending inactive", gds)
	}
}

func TestCancelBeforeTheExecutionStarts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "write")
	// Another deployment holds the environment, so this one waits in line.
	if _, ok, err := h.store.TryLock(context.Background(), store.EnvName(testRepo, "production"), "dep_0000000000", time.Minute); err != nil || !ok {
		t.Fatalf("take the environment: %v %v", ok, err)
	}
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi\n"}, h.pandaYML(""))
	h.push(sha, "ship")
	var dep *store.Deployment
	waitFor(t, func() bool {
		list, _ := h.store.List(context.Background(), store.Filter{Repo: testRepo})
		if len(list) == 1 {
			if _, pushed := list[0].StageDurations["push"]; pushed {
				dep = list[0]
			}
		}
		return dep != nil
	}, "the image to be pushed")
	h.pressVisible(dep, checks.ActionCancel, "alice") // the Cancel GitHub displays, on the completed controls run
	dep = h.waitFinal(sha, 3*time.Minute)
	if dep.Status != store.StatusCanceled || dep.ErrorStage != "deploy" || !strings.Contains(dep.Error, "alice") {
		t.Fatalf("status %s at %q (%s), want CANCELED at deploy by alice", dep.Status, dep.ErrorStage, dep.Error)
	}
	if n := len(h.aws.Executions(h.smARN)); n != 0 {
		t.Errorf("%d executions started for a cancelled deployment", n)
	}
}

// seedSuccess records a finished successful deployment of sha with image,
// as an earlier rollout would have left it.
func (h *harness) seedSuccess(envName, sha, image string, at time.Time) *store.Deployment {
	h.t.Helper()
	cfg, err := repoconfig.Parse([]byte(h.pandaYML("")))
	if err != nil {
		h.t.Fatal(err)
	}
	env, _ := cfg.Env("production")
	dep := &store.Deployment{
		ID: store.NewID(), Status: store.StatusSucceeded, Repo: testRepo, InstallationID: testInst, SHA: sha,
		Branch: "main", Environment: envName, Trigger: "push", CreatedAt: at, StartedAt: at, EndedAt: at.Add(time.Minute),
		ImageURI: image, Target: deployment.TargetOf(env), CheckRuns: map[string]int64{},
	}
	dep, _, err = h.store.Create(context.Background(), "seed:"+dep.ID, dep)
	if err != nil {
		h.t.Fatal(err)
	}
	return dep
}

func TestRollbackRedeploysThePreviousImage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "admin")
	h.gh.SetPermission(testRepo, "rob", "read")
	// Two earlier successes in production, and one in another environment
	// that must not count.
	now := time.Now()
	shaA, shaB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	a := h.seedSuccess("production", shaA, "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-app@sha256:"+strings.Repeat("a", 64), now.Add(-2*time.Hour))
	h.seedSuccess("qa", strings.Repeat("c", 40), "elsewhere@sha256:"+strings.Repeat("c", 64), now.Add(-90*time.Minute))
	b := h.seedSuccess("production", shaB, "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme-app@sha256:"+strings.Repeat("b", 64), now.Add(-time.Hour))

	h.press(b, "requested_action", "rollback", "rob") // a reader: ignored
	h.press(b, "requested_action", "rollback", "alice")
	list := h.waitDeployments(4, 3*time.Minute)
	back := list[0]
	h.settled(back)
	if back.Status != store.StatusSucceeded || back.Trigger != "rollback" || back.ImageURI != a.ImageURI || back.SHA != shaA || back.Actor != "alice" {
		t.Fatalf("rollback %s trigger %s image %s sha %s by %s (%s); want SUCCEEDED with %s of %s by alice",
			back.Status, back.Trigger, back.ImageURI, back.SHA, back.Actor, back.Error, a.ImageURI, shaA)
	}
	for _, ev := range h.events(back.ID) {
		if _, started := parse(t, ev).(events.StageStarted); started && ev.Stage != "deploy" {
			t.Errorf("rollback ran stage %s", ev.Stage)
		}
	}
	if tags := h.reg.Tags("acme-app"); len(tags) != 0 {
		t.Errorf("a rollback pushed tags %v", tags)
	}
	execs := h.aws.Executions(h.smARN)
	if len(execs) != 1 {
		t.Fatalf("%d executions, want 1", len(execs))
	}
	out, err := sfn.NewFromConfig(h.aws.Config()).DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: &execs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(*out.Input, a.ImageURI) {
		t.Errorf("execution input %s does not deploy %s", *out.Input, a.ImageURI)
	}
	for _, r := range h.gh.CheckRuns(testRepo) {
		want := "neutral"
		if r.Name == "panda/deploy" {
			want = "success"
		}
		if r.ExternalID != back.ID || r.HeadSHA != shaA || r.Status != "completed" || r.Conclusion != want {
			t.Errorf("check run %s of %s on %s: %s/%s, want %s of %s on %s", r.Name, r.ExternalID, r.HeadSHA, r.Status, r.Conclusion, want, back.ID, shaA)
		}
	}
	checkGitHubDeployment(t, h, back)

	// Rolling back b again is refused: it no longer runs there.
	h.press(b, "requested_action", "rollback", "alice")
	time.Sleep(time.Second)
	if list, _ := h.store.List(context.Background(), store.Filter{Repo: testRepo}); len(list) != 4 {
		t.Errorf("%d deployments after rolling back a replaced deployment, want 4", len(list))
	}
}

func awstestHang() awstest.Outcome { return awstest.Outcome{HangAt: "BlueGreenDeployment"} }

// TestNoDuplicatesBehind502: GitHub creates the reply, a check run and the
// Deployment, and answers each create with 502. Panda finds each one again
// instead of creating a second.
func TestNoDuplicatesBehind502(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "write")
	sha := h.openPR(8, h.pandaYML(""), githubtest.PullRequest{User: "alice"})
	for _, route := range []string{
		"POST /repos/{owner}/{repo}/issues/{number}/comments",
		"POST /repos/{owner}/{repo}/check-runs",
		"POST /repos/{owner}/{repo}/deployments",
	} {
		h.gh.FailNext(1, githubtest.CreatedThen502(route))
	}
	task, _ := h.commentTask(8, true, "alice", "/deploy")
	h.enqueue(task)

	dep := h.waitDeployments(1, 3*time.Minute)[0]
	if dep.Status != store.StatusSucceeded {
		t.Fatalf("deployment %s (%s), want SUCCEEDED", dep.Status, dep.Error)
	}
	if n := len(h.waitReply(8, 1)); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}
	names := map[string]int{}
	for _, cr := range h.gh.CheckRuns(testRepo) {
		if cr.HeadSHA == sha {
			names[cr.Name]++
		}
	}
	for _, stage := range []string{"clone", "build", "push", "deploy"} {
		if names["panda/"+stage] != 1 {
			t.Errorf("%d check runs panda/%s, want 1", names["panda/"+stage], stage)
		}
	}
	var gds int
	for _, gd := range h.gh.Deployments(testRepo) {
		if gd.SHA == sha {
			gds++
		}
	}
	if gds != 1 {
		t.Errorf("%d GitHub deployments of %s, want 1", gds, sha)
	}
	checkGitHubDeployment(t, h, dep)
	if v := h.gh.Violations(); len(v) != 0 {
		t.Errorf("GitHub would have refused: %+v", v)
	}
}

package jobs_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// controlsRun returns dep's controls run as GitHub shows it.
func (h *harness) controlsRun(dep *store.Deployment) githubtest.CheckRun {
	h.t.Helper()
	for _, cr := range h.gh.CheckRuns(testRepo) {
		if cr.Name == checks.ControlsName && cr.ExternalID == dep.ID {
			return cr
		}
	}
	h.t.Fatalf("no controls run for %s", dep.ID)
	return githubtest.CheckRun{}
}

// pressVisible plays sender pressing the button identifier on dep's controls
// run, which fails the test when GitHub would not show that button, and
// enqueues the task the intake makes of GitHub's requested_action event.
func (h *harness) pressVisible(dep *store.Deployment, identifier, sender string) {
	h.t.Helper()
	cr, err := h.gh.PressAction(testRepo, h.controlsRun(dep).ID, identifier)
	if err != nil {
		h.t.Fatal(err)
	}
	task, err := tasks.NewCheckRunTask(tasks.CheckRunPayload{
		Delivery:       tasks.Delivery{HookID: "1", ID: store.NewID()},
		InstallationID: testInst, Repo: testRepo, Action: "requested_action", CheckRunID: cr.ID,
		ExternalID: cr.ExternalID, HeadSHA: cr.HeadSHA, Identifier: identifier, Sender: sender,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.enqueue(task)
}

// only returns the one deployment of the repository once ok holds for it.
func (h *harness) only(what string, ok func(*store.Deployment) bool) *store.Deployment {
	h.t.Helper()
	var dep *store.Deployment
	waitFor(h.t, func() bool {
		list, _ := h.store.List(context.Background(), store.Filter{Repo: testRepo})
		if len(list) == 1 && ok(list[0]) {
			dep = list[0]
		}
		return dep != nil
	}, what)
	return dep
}

// assertCancelled checks what a person sees of a deployment cancelled by
// actor at stage: CANCELED, the stage's run cancelled and the later ones
// skipped, the controls run saying so with Cancel gone, nothing pushed and
// no execution started.
func (h *harness) assertCancelled(dep *store.Deployment, stage, actor string) {
	h.t.Helper()
	t := h.t
	if dep.Status != store.StatusCanceled || dep.ErrorStage != stage || !strings.Contains(dep.Error, actor) {
		t.Errorf("deployment %s at %q (%s), want CANCELED at %s by %s", dep.Status, dep.ErrorStage, dep.Error, stage, actor)
	}
	after := false
	for _, s := range []string{"clone", "build", "push", "deploy"} {
		var run *githubtest.CheckRun
		for _, cr := range h.gh.CheckRuns(testRepo) {
			if cr.Name == "panda/"+s && cr.ExternalID == dep.ID {
				run = &cr
			}
		}
		want := "success"
		switch {
		case s == stage:
			want, after = "cancelled", true
		case after:
			want = "skipped"
		}
		if run == nil || run.Status != "completed" || run.Conclusion != want {
			t.Errorf("panda/%s: %+v, want completed/%s", s, run, want)
		}
		if s == stage && run != nil && !strings.Contains(run.Output.Title, "cancelled") {
			t.Errorf("panda/%s title %q does not say it was cancelled", s, run.Output.Title)
		}
	}
	c := h.controlsRun(dep)
	if !strings.Contains(c.Output.Title, "ended: CANCELED") || slices.ContainsFunc(c.Actions, func(a githubtest.CheckRunAction) bool { return a.Identifier == checks.ActionCancel }) {
		t.Errorf("controls run after the cancel: %q, actions %+v", c.Output.Title, c.Actions)
	}
	// Nothing was pushed: the registry holds no tag and no manifest of the commit.
	if tags := h.reg.Tags("acme-app"); len(tags) != 0 {
		t.Errorf("registry holds tags %v after a cancel", tags)
	}
	if d, err := h.reg.ManifestDigest("acme-app", dep.SHA); err == nil {
		t.Errorf("registry holds a manifest %s for the commit after a cancel", d)
	}
	if n := len(h.aws.Executions(h.smARN)); n != 0 {
		t.Errorf("%d executions started for a cancelled deployment", n)
	}
	if dep.ImageURI != "" {
		t.Errorf("image %s recorded for a deployment cancelled before its push ended", dep.ImageURI)
	}
}

// TestCancelDuringClone: the clone hangs on a stalled git server; a reader's
// press on the visible Cancel is refused and told why on the controls run; a
// writer's press kills git (the server sees its client go), and the
// deployment ends CANCELED at clone with nothing built or pushed.
func TestCancelDuringClone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "write")
	h.gh.SetPermission(testRepo, "rob", "read")
	release := h.git.Stall()
	t.Cleanup(release)
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi\n"}, h.pandaYML(""))
	h.push(sha, "ship")
	waitFor(t, func() bool { _, waiting := h.git.Stalled(); return waiting > 0 }, "git to hang on the server")
	dep := h.only("the clone to run", func(d *store.Deployment) bool { return d.Status == store.StatusRunning })

	h.pressVisible(dep, checks.ActionCancel, "rob")
	waitFor(t, func() bool {
		return strings.Contains(h.controlsRun(dep).Output.Text, "@rob, only people with write access")
	}, "the refusal on the controls run")
	if cur, _ := h.store.Get(context.Background(), dep.ID); cur.Status.Final() {
		t.Fatalf("a reader's press ended the deployment: %s", cur.Status)
	}
	if _, waiting := h.git.Stalled(); waiting == 0 {
		t.Fatal("a reader's press stopped the clone")
	}

	start := time.Now()
	h.pressVisible(dep, checks.ActionCancel, "alice")
	dep = h.waitFinal(sha, time.Minute)
	waitFor(t, func() bool { _, waiting := h.git.Stalled(); return waiting == 0 }, "git to be killed")
	t.Logf("git gone %s after the press", time.Since(start))
	h.assertCancelled(dep, "clone", "alice")
	h.workDirEmpty()
}

// TestCancelDuringBuild: a RUN step sleeps; Cancel stops the build, so no
// build container is left running, no image is made, nothing is pushed.
func TestCancelDuringBuild(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "write")
	base := dockertest.BusyboxBase(t, h.docker)
	// The echo prints MARK-42 only when the step runs (the step's own line
	// shows $((6*7))); MARK names this test's build containers.
	mark := "panda-cancel-" + strings.ToLower(store.NewID()[4:])
	df := "FROM " + base + "\nRUN echo " + mark + "-$((6*7)) && sleep 300\nCOPY hello.txt /hello.txt\n"
	sha := h.commit(map[string]string{"Dockerfile": df, "hello.txt": "hi\n"}, h.pandaYML(""))
	h.push(sha, "ship")
	dep := h.only("the RUN step to run", func(d *store.Deployment) bool {
		for _, ev := range h.events(d.ID) {
			if strings.Contains(ev.Message, mark+"-42") {
				return true
			}
		}
		return false
	})
	running := func() []string {
		list, err := h.docker.ContainerList(context.Background(), container.ListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range list {
			if strings.Contains(c.Command, mark) && c.State == "running" {
				out = append(out, c.ID[:12]+" "+c.State)
			}
		}
		return out
	}
	// The classic builder runs the step in a container; BuildKit runs it
	// inside the daemon and shows none. Either way none may outlive the cancel.
	t.Logf("build containers while the step runs: %v", running())

	h.pressVisible(dep, checks.ActionCancel, "alice")
	dep = h.waitFinal(sha, time.Minute)
	waitFor(t, func() bool { return len(running()) == 0 }, "no build container left running")
	h.assertCancelled(dep, "build", "alice")
	if _, err := h.docker.ImageInspect(context.Background(), "panda-build/acme-app:"+sha); !cerrdefs.IsNotFound(err) {
		t.Errorf("the cancelled build still made its image (inspect: %v)", err)
	}
	h.workDirEmpty()
}

// TestCancelDuringPush: the registry stalls the upload; Cancel aborts the
// push, and once the registry takes writes again, no manifest or tag arrives.
func TestCancelDuringPush(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "write")
	release := h.reg.StallPushes()
	t.Cleanup(release)
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "push " + t.Name() + "\n"}, h.pandaYML(""))
	h.push(sha, "ship")
	waitFor(t, func() bool { _, waiting := h.reg.Stalled(); return waiting > 0 }, "the push to hang on the registry")
	dep := h.only("the push to run", func(d *store.Deployment) bool { return d.Status == store.StatusRunning })

	h.pressVisible(dep, checks.ActionCancel, "alice")
	dep = h.waitFinal(sha, time.Minute)
	// The engine (20.10) keeps the one upload request it had sent waiting
	// after its client went, so the registry is let go on, and the engine
	// must send nothing more: the blob's data and the manifest never come.
	release()
	time.Sleep(3 * time.Second) // a push that went on would land in milliseconds
	h.assertCancelled(dep, "push", "alice")
}

// TestCancelByComment: "/deploy cancel" on the pull request; a reader is told
// no, a writer's cancels the running deployment and says which.
func TestCancelByComment(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "alice", "write")
	h.gh.SetPermission(testRepo, "rob", "read")
	release := h.git.Stall()
	t.Cleanup(release)
	sha := h.openPR(9, h.pandaYML(""), githubtest.PullRequest{User: "alice"})
	task, commentID := h.commentTask(9, true, "alice", "/deploy")
	h.enqueue(task)
	waitFor(t, func() bool { _, waiting := h.git.Stalled(); return waiting > 0 }, "git to hang on the server")
	dep := h.only("the clone to run", func(d *store.Deployment) bool { return d.Status == store.StatusRunning })

	task, _ = h.commentTask(9, true, "rob", "/deploy cancel")
	h.enqueue(task)
	replies := h.waitReply(9, 2)
	if !strings.Contains(replies[1].Body, "@rob, only people with write access") || !strings.Contains(replies[1].Body, "cancelled nothing") {
		t.Errorf("reply to a reader's cancel: %q", replies[1].Body)
	}
	if cur, _ := h.store.Get(context.Background(), dep.ID); cur.Status.Final() {
		t.Fatalf("a reader's /deploy cancel ended the deployment: %s", cur.Status)
	}

	task, _ = h.commentTask(9, true, "alice", "/deploy cancel")
	h.enqueue(task)
	replies = h.waitReply(9, 3)
	if !strings.Contains(replies[2].Body, "Cancelled "+dep.ID) {
		t.Errorf("reply to /deploy cancel: %q, want it to name %s", replies[2].Body, dep.ID)
	}
	dep = h.waitFinal(sha, time.Minute)
	waitFor(t, func() bool { _, waiting := h.git.Stalled(); return waiting == 0 }, "git to be killed")
	h.assertCancelled(dep, "clone", "alice")
	waitFor(t, func() bool { return reactions(h, commentID) == "eyes,confused" }, "the /deploy comment to end 😕")

	// Nothing runs any more: a second cancel says so.
	task, _ = h.commentTask(9, true, "alice", "/deploy cancel")
	h.enqueue(task)
	if replies = h.waitReply(9, 4); !strings.Contains(replies[3].Body, "nothing to cancel") {
		t.Errorf("reply to a cancel with nothing running: %q", replies[3].Body)
	}
}

package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/internal/chromiumtest"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// pageStream is how one version of Panda writes a deployment's events: the
// page must read the streams of this version and of earlier ones alike (a
// finished stream is kept 30 days).
type pageStream struct {
	started, succeeded func(stage pipeline.Stage) store.Event
	log                func(stage pipeline.Stage, line string) store.Event
	done               func() store.Event
}

// typedStream is this version: the kinds of package events.
var typedStream = pageStream{
	started: func(s pipeline.Stage) store.Event { return events.StageStarted{Stage: s}.Event() },
	succeeded: func(s pipeline.Stage) store.Event {
		return events.StageSucceeded{Stage: s, Duration: 1200 * time.Millisecond}.Event()
	},
	log: func(s pipeline.Stage, line string) store.Event { return events.Log{Stage: s, Line: line}.Event() },
	done: func() store.Event {
		return events.Ended{Status: store.StatusSucceeded, Total: 83 * time.Second, GreenServiceURL: "http://green.example.com"}.Event()
	},
}

var v1Titles = map[pipeline.Stage]string{"clone": "Clone", "build": "Build", "push": "Push", "deploy": "Deploy"}

// v1Stream is the version before typed events, whose details were map
// literals: the JSON below is what it wrote (commit 7c6b7d0, jobs/build.go and
// deployment/finish.go).
var v1Stream = pageStream{
	started: func(s pipeline.Stage) store.Event {
		return store.Event{Type: store.EventStage, Stage: string(s), Message: v1Titles[s] + " started", Details: json.RawMessage(`{"phase":"started","state":"started"}`)}
	},
	succeeded: func(s pipeline.Stage) store.Event {
		return store.Event{Type: store.EventStage, Stage: string(s), Message: v1Titles[s] + " finished in 1.2s",
			Details: json.RawMessage(`{"durationMs":1200,"imageUri":"","phase":"finished","state":"succeeded"}`)}
	},
	log: func(s pipeline.Stage, line string) store.Event {
		return store.Event{Type: store.EventStage, Stage: string(s), Message: line, Details: json.RawMessage(`{"phase":"log"}`)}
	},
	done: func() store.Event {
		return store.Event{Type: store.EventDone, Stage: "deploy", Message: "Deployment succeeded",
			Details: json.RawMessage(`{"blueServiceUrl":"","greenServiceUrl":"http://green.example.com","imageUri":"","state":"succeeded","status":"SUCCEEDED"}`)}
	},
}

// TestApprovalInChromium shows the deployment page following a rollout held
// for approval: the wait appears live with the test URL and who may answer,
// then the answer replaces it.
func TestApprovalInChromium(t *testing.T) {
	t.Parallel()
	b := chromiumtest.Start(t)
	e := newEnv(t)
	d := e.deployment()
	ev := func(ev store.Event) { appendEvent(t, e.st, d.ID, ev) }
	ev(events.StageStarted{Stage: pipeline.StageDeploy}.Event())
	session := b.Open(e.srv.URL + "/deployments/" + d.ID)
	b.WaitPage(session, "the deploy running", 30*time.Second, func(st chromiumtest.Page) bool {
		return st.Stages["deploy"] == "running" && st.Approval == ""
	})
	until := time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC)
	ev(events.ApprovalWaiting{TestURL: "http://web-123.elb.amazonaws.com:8080", Approvers: []string{"@alice", "acme/release"}, Until: until}.Event())
	b.WaitPage(session, "the approval waiting", 30*time.Second, func(st chromiumtest.Page) bool {
		return st.Approval == "waiting" && strings.Contains(st.ApprovalText, "http://web-123.elb.amazonaws.com:8080") &&
			strings.Contains(st.ApprovalText, "@alice, acme/release") && strings.Contains(st.ApprovalText, "2026-12-04T13:00:00Z")
	})
	ev(events.ApprovalAnswered{Approved: true, Actor: "alice", Message: "Approved by @alice: production traffic moves to the new revision"}.Event())
	b.WaitPage(session, "the approval answered", 30*time.Second, func(st chromiumtest.Page) bool {
		return st.Approval == "answered" && strings.Contains(st.ApprovalText, "Approved by @alice") && !strings.Contains(st.ApprovalText, "8080")
	})
}

// TestPageInChromium shows the deployment page following a deployment live,
// surviving a reload in the middle, and ending on SUCCEEDED, on a stream of
// this version and on one of the version before.
func TestPageInChromium(t *testing.T) {
	t.Parallel()
	b := chromiumtest.Start(t)
	for _, tc := range []struct {
		name   string
		stream pageStream
	}{
		{name: "typed", stream: typedStream},
		{name: "v1", stream: v1Stream},
	} {
		t.Run(tc.name, func(t *testing.T) { testPage(t, b, tc.stream) })
	}
}

func testPage(t *testing.T, b *chromiumtest.Browser, s pageStream) {
	e := newEnv(t)
	d := e.deployment()
	ev := func(ev store.Event) { appendEvent(t, e.st, d.ID, ev) }
	ev(s.started(pipeline.StageClone))
	ev(s.succeeded(pipeline.StageClone))
	ev(s.started(pipeline.StageBuild))
	ev(s.log(pipeline.StageBuild, "Step 1/2 : FROM scratch"))
	ev(s.log(pipeline.StageBuild, "Step 2/2 : COPY app /app"))

	session := b.Open(e.srv.URL + "/deployments/" + d.ID)
	midway := func(st chromiumtest.Page) bool {
		return st.Status == "RUNNING" && st.Stages["clone"] == "succeeded" && st.Stages["build"] == "running" &&
			st.Stages["push"] == "pending" && strings.Contains(st.Log, "[build] Step 2/2 : COPY app /app")
	}
	b.WaitPage(session, "the build running", 30*time.Second, midway)

	b.Reload(session)
	time.Sleep(100 * time.Millisecond)
	b.WaitPage(session, "the same state after a reload", 30*time.Second, midway)

	ev(s.succeeded(pipeline.StageBuild))
	ev(s.started(pipeline.StagePush))
	b.WaitPage(session, "the push running", 30*time.Second, func(st chromiumtest.Page) bool {
		return st.Stages["build"] == "succeeded" && st.Stages["push"] == "running" && st.Status == "RUNNING"
	})
	ev(s.succeeded(pipeline.StagePush))
	ev(s.started(pipeline.StageDeploy))
	_, err := e.st.Update(t.Context(), d.ID, func(d *store.Deployment) error {
		d.Status, d.EndedAt, d.GreenURL = store.StatusSucceeded, time.Now(), "http://green.example.com"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ev(s.done())
	b.WaitPage(session, "SUCCEEDED with every stage done", 30*time.Second, func(st chromiumtest.Page) bool {
		return st.Status == "SUCCEEDED" && st.Stages["deploy"] == "succeeded" && st.Stages["push"] == "succeeded" &&
			st.Green == "http://green.example.com" && st.Error == ""
	})
}

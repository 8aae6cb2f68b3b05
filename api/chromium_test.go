package api_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// browser is headless Chromium driven over the DevTools protocol through
// --remote-debugging-pipe (messages are JSON ended by NUL on fds 3 and 4), so
// no WebSocket client and no downloaded browser are needed.
type browser struct {
	t    *testing.T
	in   *os.File // our end: write commands
	out  *bufio.Reader
	mu   sync.Mutex
	next int
}

func startChromium(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	testenv.RequireService(t, "chromium (Debian package chromium)", err)
	cmdR, cmdW, err := os.Pipe() // chromium reads commands from fd 3
	if err != nil {
		t.Fatal(err)
	}
	evR, evW, err := os.Pipe() // and writes answers to fd 4
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, evW}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	cmdR.Close()
	evW.Close()
	t.Cleanup(func() {
		cmdW.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		evR.Close()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	return &browser{t: t, in: cmdW, out: bufio.NewReader(evR)}
}

// call sends one command and returns its result, skipping events.
func (b *browser) call(session, method string, params any) json.RawMessage {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	msg := map[string]any{"id": b.next, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, _ := json.Marshal(msg)
	if _, err := b.in.Write(append(data, 0)); err != nil {
		b.t.Fatalf("CDP %s: %v", method, err)
	}
	for {
		raw, err := b.out.ReadBytes(0)
		if err != nil {
			b.t.Fatalf("CDP %s: %v", method, err)
		}
		var reply struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct{ Message string }
		}
		if err := json.Unmarshal(raw[:len(raw)-1], &reply); err != nil {
			b.t.Fatalf("CDP reply: %v", err)
		}
		if reply.ID != b.next {
			continue // an event
		}
		if reply.Error != nil {
			b.t.Fatalf("CDP %s: %s", method, reply.Error.Message)
		}
		return reply.Result
	}
}

// open opens url in a new tab and returns the tab's session.
func (b *browser) open(url string) string {
	var target struct{ TargetID string }
	_ = json.Unmarshal(b.call("", "Target.createTarget", map[string]any{"url": url}), &target)
	var att struct{ SessionID string }
	_ = json.Unmarshal(b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}), &att)
	return att.SessionID
}

type pageState struct {
	Status string            `json:"status"`
	Stages map[string]string `json:"stages"`
	Log    string            `json:"log"`
	Green  string            `json:"green"`
	Error  string            `json:"error"`
}

const stateJS = `(() => {
  const el = (id) => document.getElementById(id);
  if (!el("status")) return "{}";
  const stages = {};
  for (const s of ["clone", "build", "push", "deploy"]) stages[s] = el("stage-" + s).dataset.state;
  return JSON.stringify({status: el("status").dataset.status, stages, log: el("log").textContent,
    green: el("f-green").textContent, error: el("error").textContent});
})()`

func (b *browser) state(session string) pageState {
	var res struct {
		Result struct{ Value string }
	}
	_ = json.Unmarshal(b.call(session, "Runtime.evaluate", map[string]any{"expression": stateJS, "returnByValue": true}), &res)
	var st pageState
	_ = json.Unmarshal([]byte(res.Result.Value), &st)
	return st
}

// waitState polls the page until ok holds for its state.
func (b *browser) waitState(session, what string, ok func(pageState) bool) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st pageState
	for time.Now().Before(deadline) {
		if st = b.state(session); ok(st) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("page never showed %s; last state %+v", what, st)
}

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

// TestPageInChromium shows the deployment page following a deployment live,
// surviving a reload in the middle, and ending on SUCCEEDED, on a stream of
// this version and on one of the version before.
func TestPageInChromium(t *testing.T) {
	t.Parallel()
	b := startChromium(t)
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

func testPage(t *testing.T, b *browser, s pageStream) {
	e := newEnv(t)
	d := e.deployment()
	ev := func(ev store.Event) { appendEvent(t, e.st, d.ID, ev) }
	ev(s.started(pipeline.StageClone))
	ev(s.succeeded(pipeline.StageClone))
	ev(s.started(pipeline.StageBuild))
	ev(s.log(pipeline.StageBuild, "Step 1/2 : FROM scratch"))
	ev(s.log(pipeline.StageBuild, "Step 2/2 : COPY app /app"))

	session := b.open(e.srv.URL + "/deployments/" + d.ID)
	midway := func(st pageState) bool {
		return st.Status == "RUNNING" && st.Stages["clone"] == "succeeded" && st.Stages["build"] == "running" &&
			st.Stages["push"] == "pending" && strings.Contains(st.Log, "[build] Step 2/2 : COPY app /app")
	}
	b.waitState(session, "the build running", midway)

	b.call(session, "Page.reload", map[string]any{})
	time.Sleep(100 * time.Millisecond)
	b.waitState(session, "the same state after a reload", midway)

	ev(s.succeeded(pipeline.StageBuild))
	ev(s.started(pipeline.StagePush))
	b.waitState(session, "the push running", func(st pageState) bool {
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
	b.waitState(session, "SUCCEEDED with every stage done", func(st pageState) bool {
		return st.Status == "SUCCEEDED" && st.Stages["deploy"] == "succeeded" && st.Stages["push"] == "succeeded" &&
			st.Green == "http://green.example.com" && st.Error == ""
	})
}

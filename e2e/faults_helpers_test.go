package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/stacktest"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// faultOptions change the world a fault test builds around Panda.
type faultOptions struct {
	// awsStep is the time between two history events of an execution. If
	// zero, 20ms, as in newStack (see stacktest.Options.AWSStep).
	awsStep time.Duration
	// redis configures the private Redis (see testenv.StartRedis).
	redis []testenv.RedisOption
	// dockerHost, when set, is the worker's DOCKER_HOST; the engine of the
	// environment is then not required.
	dockerHost string
}

// faultStack is a stack whose services a test can take away: the Redis
// server can be stopped and started, and git and the registry are reached
// through gates that can hold requests.
type faultStack struct {
	*stack
	rs      *testenv.RedisServer
	gitGate *gate
	regGate *gate
}

// newFaultStack builds what newStack builds, with the options applied and
// gates in front of git and the registry.
func newFaultStack(t *testing.T, o faultOptions) *faultStack {
	t.Helper()
	rs := testenv.StartRedis(t, o.redis...)
	var regGate, gitGate *gate
	w := stacktest.New(t, stacktest.Options{
		RedisURL: rs.URL(), AWSStep: o.awsStep, NoEngine: o.dockerHost != "",
		RegistryFront: func(url string) (front string) { regGate, front = newGate(t, url); return front },
		GitFront:      func(url string) (front string) { gitGate, front = newGate(t, url); return front },
	})
	dockerHost := o.dockerHost
	if dockerHost == "" {
		dockerHost = os.Getenv("DOCKER_HOST")
	}
	s := stackOn(t, w, dockerHost)
	t.Cleanup(func() {
		switch {
		case os.Getenv("PANDA_E2E_LOGS") != "": // to see what a passing case went through
			t.Logf("log:\n%s", s.logs.String())
		case t.Failed():
			t.Logf("log tail:\n%s", tail(s.logs.String(), 6000))
		}
	})
	return &faultStack{stack: s, rs: rs, gitGate: gitGate, regGate: regGate}
}

// startAppCmd starts the app and waits until it is ready, returning its process.
func (s *faultStack) startAppCmd() *exec.Cmd {
	s.t.Helper()
	cmd := s.start("app")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.appAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("app did not become ready; log:\n%s", tail(s.logs.String(), 4000))
	return nil
}

// stop ends a process of Panda with sig and waits for it to exit.
func (s *faultStack) stop(cmd *exec.Cmd, sig syscall.Signal) {
	s.t.Helper()
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %s: %v", cmd.Path, err)
	}
	_ = cmd.Wait()
}

// alive fails the test when a process of Panda has exited: an outage of a
// service it uses must not bring it down.
func (s *faultStack) alive(cmd *exec.Cmd, name string) {
	s.t.Helper()
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		s.t.Errorf("the %s exited during the outage: %v", name, err)
	}
}

// commitTo adds a commit to branch whose .panda.yml deploys branch to env,
// and makes the file visible to the contents API.
func (s *faultStack) commitTo(branch, env string, files map[string]string) string {
	s.t.Helper()
	return s.w.Commit(branch, files, "environments:\n"+s.w.EnvironmentYML(env, branch, env, "web-"+env))
}

// pushPayloadTo is pushPayload for a push of sha to branch.
func pushPayloadTo(t *testing.T, branch, sha string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(pushPayload(t, sha), &m); err != nil {
		t.Fatal(err)
	}
	m["ref"] = "refs/heads/" + branch
	out, _ := json.Marshal(m)
	return out
}

// sendWebhook posts a signed delivery and returns the status code. Unlike
// postWebhook it may be called from any goroutine.
func (s *faultStack) sendWebhook(event, delivery string, body []byte) (int, error) {
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+s.appAddr+"/webhook", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-GitHub-Hook-ID", "7")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// waitFor polls cond until it holds or within passes, then fails with what.
func (s *faultStack) waitFor(what string, within time.Duration, cond func() bool) {
	s.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	s.t.Fatalf("%s: not within %v", what, within)
}

// openStore opens the stack's Redis as Panda's store, for reading what the
// binaries wrote.
func (s *faultStack) openStore() *store.Store {
	s.t.Helper()
	return s.w.Store()
}

// settled waits for the one deployment of each sha to be final and checks
// what every fault case promises: the status is want, the stream holds one
// final event and it is the last, exactly one execution ran for a deployment
// that succeeded (none for one that never reached its deploy stage), and its
// check runs are one per stage, all completed, each moving only forward.
func (s *faultStack) settled(want map[string]string, within time.Duration) map[string]deploymentView {
	s.t.Helper()
	st := s.openStore()
	deps := map[string]deploymentView{}
	for sha, status := range want {
		dep := s.waitFinal(sha, within)
		deps[sha] = dep
		if dep.Status != status {
			s.t.Errorf("deployment %s of %.7s ended %s, want %s", dep.ID, sha, dep.Status, status)
		}
		s.checkOneFinalEvent(st, dep)
		s.checkExecutions(dep)
		s.checkCheckRuns(dep)
	}
	return deps
}

func (s *faultStack) checkOneFinalEvent(st *store.Store, dep deploymentView) {
	s.t.Helper()
	var evs []store.StreamEvent
	// The final status is written a moment before the final event: give the
	// worker that moment before judging the stream.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if evs, err = st.Events(context.Background(), dep.ID, "", 100000, 0); err != nil {
			s.t.Fatal(err)
		}
		if (len(evs) > 0 && evs[len(evs)-1].Final()) || time.Now().After(deadline) {
			break
		}
	}
	var finals []string
	for i, ev := range evs {
		if ev.Final() {
			finals = append(finals, fmt.Sprintf("#%d %s %q", i, ev.Type, ev.Message))
		}
	}
	if len(finals) != 1 || !evs[len(evs)-1].Final() {
		s.t.Errorf("deployment %s: final events %v among %d, want exactly one, last", dep.ID, finals, len(evs))
	}
}

func (s *faultStack) checkExecutions(dep deploymentView) {
	s.t.Helper()
	n := 0
	for _, arn := range s.aws.Executions(s.smARN) {
		if strings.HasSuffix(arn, ":"+dep.ID) {
			n++
		}
	}
	if dep.Status == "SUCCEEDED" && n != 1 || n > 1 {
		s.t.Errorf("deployment %s (%s) ran %d executions, want one", dep.ID, dep.Status, n)
	}
}

// checkCheckRuns waits (a little: the record is final before the check runs
// are concluded) for dep's check runs to be completed, then checks them.
func (s *faultStack) checkCheckRuns(dep deploymentView) {
	s.t.Helper()
	var runs []githubtest.CheckRun
	concluded := func() bool {
		runs = runs[:0]
		done := true
		for _, cr := range s.gh.CheckRuns(repoName) {
			if cr.ExternalID == dep.ID && cr.Name != "panda" { // the stage runs, not the controls run
				runs = append(runs, cr)
				done = done && cr.Status == "completed"
			}
		}
		return done && len(runs) >= len(pipeline.Stages)
	}
	for deadline := time.Now().Add(30 * time.Second); !concluded() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if len(runs) != len(pipeline.Stages) {
		s.t.Errorf("deployment %s has %d check runs, want one per stage (%d)", dep.ID, len(runs), len(pipeline.Stages))
	}
	names := map[string]bool{}
	for _, cr := range runs {
		if names[cr.Name] {
			s.t.Errorf("deployment %s has two check runs named %q", dep.ID, cr.Name)
		}
		names[cr.Name] = true
		if cr.Status != "completed" {
			s.t.Errorf("check run %q of %s is %s, want completed", cr.Name, dep.ID, cr.Status)
		}
		if dep.Status == "SUCCEEDED" && cr.Conclusion != "success" {
			s.t.Errorf("check run %q of succeeded %s concluded %q", cr.Name, dep.ID, cr.Conclusion)
		}
		if err := forwardOnly(cr.History); err != nil {
			s.t.Errorf("check run %q of %s: %v; its updates: %s", cr.Name, dep.ID, err, describeHistory(cr.History))
		}
	}
}

// forwardOnly checks that a check run's states came in order: queued, then
// in_progress, then completed once, with nothing changed after completion.
func forwardOnly(history []githubtest.CheckRun) error {
	rank := map[string]int{"queued": 0, "in_progress": 1, "completed": 2}
	prev := -1
	var done *githubtest.CheckRun
	for i, h := range history {
		r, ok := rank[h.Status]
		if !ok {
			return fmt.Errorf("update %d has status %q", i, h.Status)
		}
		if r < prev {
			return fmt.Errorf("update %d went back from %d to %s", i, prev, h.Status)
		}
		prev = r
		if done != nil && (h.Conclusion != done.Conclusion || h.Output.Summary != done.Output.Summary) {
			return fmt.Errorf("update %d changed a completed run (%s %q → %s %q)", i, done.Conclusion, done.Output.Summary, h.Conclusion, h.Output.Summary)
		}
		if h.Status == "completed" && done == nil {
			done = &history[i]
		}
	}
	return nil
}

func describeHistory(history []githubtest.CheckRun) string {
	var b strings.Builder
	for _, h := range history {
		fmt.Fprintf(&b, "\n\t%s %s %q", h.Status, h.Conclusion, h.Output.Title)
	}
	return b.String()
}

// gate is a reverse proxy that can hold the requests a test chooses, so the
// test can act (kill a process) while a stage is surely under way.
type gate struct {
	mu  sync.Mutex
	cur *holding // nil when nothing is held
}

// holding is one hold: which requests wait, and the channels that tell the
// first one arrived and that they may go on.
type holding struct {
	match func(*http.Request) bool
	hit   chan struct{}
	open  chan struct{}
	once  sync.Once
}

// newGate starts a proxy to target and returns it with its URL.
func newGate(t *testing.T, target string) (*gate, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1 // git and the registry stream
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.wait(r)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return g, srv.URL
}

// hold makes requests that match wait until release; the returned channel
// is closed when the first of them arrives.
func (g *gate) hold(match func(*http.Request) bool) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur = &holding{match: match, hit: make(chan struct{}), open: make(chan struct{})}
	return g.cur.hit
}

// release lets held requests, and all later ones, through.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur != nil {
		close(g.cur.open)
		g.cur = nil
	}
}

func (g *gate) wait(r *http.Request) {
	g.mu.Lock()
	h := g.cur
	g.mu.Unlock()
	if h == nil || !h.match(r) {
		return
	}
	h.once.Do(func() { close(h.hit) })
	select {
	case <-h.open:
	case <-r.Context().Done():
	}
}

// sseEvent is one event as an SSE client received it.
type sseEvent struct{ id, name string }

// sseFollower reads a deployment's event stream the way a browser does:
// after a dropped connection it reconnects with Last-Event-ID, until a done
// or error event.
type sseFollower struct {
	url string

	mu       sync.Mutex
	events   []sseEvent
	connects int
	finished bool
	err      error
}

// run follows until a final event or ctx ends.
func (f *sseFollower) run(ctx context.Context) {
	for ctx.Err() == nil {
		final, err := f.once(ctx)
		if final {
			f.mu.Lock()
			f.finished = true
			f.mu.Unlock()
			return
		}
		if err != nil {
			f.mu.Lock()
			f.err = err
			f.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// once makes one connection and reads it until it ends; final reports a
// final event.
func (f *sseFollower) once(ctx context.Context) (final bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if last := f.lastID(); last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("events answered %d", resp.StatusCode)
	}
	f.mu.Lock()
	f.connects++
	f.mu.Unlock()
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.id != "" {
				f.mu.Lock()
				f.events = append(f.events, cur)
				f.mu.Unlock()
				if cur.name == "done" || cur.name == "error" {
					return true, nil
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		}
	}
	return false, sc.Err()
}

func (f *sseFollower) lastID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		return ""
	}
	return f.events[len(f.events)-1].id
}

func (f *sseFollower) snapshot() (events []sseEvent, connects int, finished bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sseEvent(nil), f.events...), f.connects, f.finished
}

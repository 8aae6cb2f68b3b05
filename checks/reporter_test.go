package checks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
)

const (
	testRepo = "octo-org/app"
	testSHA  = "0123456789abcdef0123456789abcdef01234567"
)

var stages = []string{"clone", "build", "push", "deploy"}

// setup starts a GitHub test server with installation 7 on testRepo and a
// Reporter talking to it through githubapp's real client.
func setup(t *testing.T, opts ...func(*checks.Reporter)) (*githubtest.Server, *checks.Reporter) {
	t.Helper()
	s := githubtest.NewServer(t)
	s.AddInstallation(7, testRepo)
	f, err := githubapp.New(githubapp.Config{
		AppID: s.AppID(), PrivateKey: s.PrivateKeyPEM(), APIURL: s.URL(),
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Retry:      githubapp.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxAttempts: 4},
	})
	if err != nil {
		t.Fatalf("githubapp.New: %v", err)
	}
	r := &checks.Reporter{
		Clients: func(ctx context.Context, id int64) (checks.API, error) {
			c, err := f.Client(ctx, id)
			if err != nil {
				return nil, err
			}
			return c.Checks, nil
		},
		PublicURL: "https://panda.example/",
	}
	for _, o := range opts {
		o(r)
	}
	return s, r
}

func newDeployment() *store.Deployment {
	return &store.Deployment{
		ID: "dep_AbCdEf1234", Status: store.StatusQueued, Repo: testRepo, InstallationID: 7,
		SHA: testSHA, Branch: "main", Environment: "production", Trigger: "push", Actor: "octocat",
		StageDurations: map[string]time.Duration{},
	}
}

// queue creates d's check runs and stores their ids in d, as jobs does.
func queue(t *testing.T, r *checks.Reporter, d *store.Deployment) {
	t.Helper()
	ids, err := r.Queue(context.Background(), d)
	if err != nil {
		t.Fatalf("Queue: %v", err)
	}
	d.CheckRuns = ids
}

// runs returns the stage check runs of testRepo by stage (the controls run
// is controls').
func runs(t *testing.T, s *githubtest.Server) map[string]githubtest.CheckRun {
	t.Helper()
	out := map[string]githubtest.CheckRun{}
	for _, cr := range s.CheckRuns(testRepo) {
		stage, ok := checks.StageFromName(cr.Name)
		if cr.Name == checks.ControlsName {
			continue
		}
		if !ok {
			t.Fatalf("unexpected check run %q", cr.Name)
		}
		if _, dup := out[stage]; dup {
			t.Fatalf("two check runs named %q", cr.Name)
		}
		out[stage] = cr
	}
	return out
}

// states lists a check run's states as the server recorded them, with
// consecutive repeats (log updates) folded.
func states(cr githubtest.CheckRun) []string {
	var out []string
	for _, h := range cr.History {
		st := h.Status
		if h.Conclusion != "" {
			st += ":" + h.Conclusion
		}
		if len(out) == 0 || out[len(out)-1] != st {
			out = append(out, st)
		}
	}
	return out
}

func actionIDs(cr githubtest.CheckRun) []string {
	var ids []string
	for _, a := range cr.Actions {
		ids = append(ids, a.Identifier)
	}
	return ids
}

// assertAccepted fails when the server refused a body as GitHub would (400,
// 422) or any request failed that the test did not make fail.
func assertAccepted(t *testing.T, s *githubtest.Server, injected int) {
	t.Helper()
	failed := 0
	for _, req := range s.Requests() {
		if req.Status == http.StatusBadRequest || req.Status == http.StatusUnprocessableEntity {
			t.Errorf("%s %s answered %d: body %s", req.Method, req.Path, req.Status, req.Body)
		}
		if req.Status >= 300 {
			failed++
		}
	}
	if failed != injected {
		t.Errorf("%d requests failed, want %d (the injected faults)", failed, injected)
	}
}

func TestSuccess(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	d.Status = store.StatusRunning
	for i, stage := range stages {
		if err := r.Start(ctx, d, stage); err != nil {
			t.Fatalf("Start %s: %v", stage, err)
		}
		d.StageDurations[stage] = time.Duration(i+1) * time.Second
		if stage == "push" {
			d.ImageURI = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/octo-org-app@sha256:" + strings.Repeat("a", 64)
		}
		if err := r.Finish(ctx, d, stage, checks.ResultFor(d, stage)); err != nil {
			t.Fatalf("Finish %s: %v", stage, err)
		}
	}
	got := runs(t, s)
	for _, stage := range stages {
		cr := got[stage]
		if want := []string{"queued", "in_progress", "completed:success"}; !slices.Equal(states(cr), want) || len(cr.History) != 3 {
			t.Errorf("%s: states %v (%d updates), want %v", stage, states(cr), len(cr.History), want)
		}
		if cr.ExternalID != d.ID || cr.HeadSHA != testSHA || cr.DetailsURL != "https://panda.example/deployments/dep_AbCdEf1234" {
			t.Errorf("%s: external_id %q head_sha %q details_url %q", stage, cr.ExternalID, cr.HeadSHA, cr.DetailsURL)
		}
		if cr.CompletedAt.IsZero() {
			t.Errorf("%s: no completed_at", stage)
		}
		if cr.History[0].Output.Title != "Queued: deploy to production" {
			t.Errorf("%s: queued title %q", stage, cr.History[0].Output.Title)
		}
	}
	deploy := got["deploy"]
	if ids := actionIDs(deploy.History[1]); len(ids) != 0 {
		t.Errorf("deploy in progress: actions %v, want none (GitHub would not show them)", ids)
	}
	if ids := actionIDs(deploy); !slices.Equal(ids, []string{checks.ActionRollback}) {
		t.Errorf("deploy succeeded: actions %v, want [rollback]", ids)
	}
	if len(got["build"].Actions) != 0 {
		t.Errorf("build has actions %v", got["build"].Actions)
	}
	if deploy.Output.Title != "Deployed to production" || !strings.Contains(deploy.Output.Summary, "sha256:aaaa") {
		t.Errorf("deploy output: %q\n%s", deploy.Output.Title, deploy.Output.Summary)
	}
	assertAccepted(t, s, 0)
}

func TestFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		failAt         string
		status         store.Status
		err            string
		annotations    []checks.Annotation
		wantConclusion string
		wantTitle      string
		wantActions    []string
	}{
		{name: "clone", failAt: "clone", status: store.StatusFailed, err: "commit 0123456 not found",
			wantConclusion: "failure", wantTitle: "Clone failed: commit 0123456 not found"},
		{name: "config", failAt: "clone", status: store.StatusFailed, err: ".panda.yml line 4: environments.production.container_port: must be a number",
			annotations:    []checks.Annotation{checks.ConfigAnnotation(4, "environments.production.container_port", "must be a number")},
			wantConclusion: "failure", wantTitle: "Clone failed: .panda.yml line 4: environments.production.container_port: must be a number"},
		{name: "build", failAt: "build", status: store.StatusFailed, err: "build failed at docker/Dockerfile line 3 (RUN make): exit code 2",
			annotations:    []checks.Annotation{checks.DockerfileAnnotation("./docker/Dockerfile", 3, "RUN make", "exit code 2")},
			wantConclusion: "failure", wantTitle: "Build failed at docker/Dockerfile line 3 (RUN make): exit code 2"},
		{name: "push", failAt: "push", status: store.StatusFailed, err: "ECR refused the push",
			wantConclusion: "failure", wantTitle: "Push failed: ECR refused the push"},
		{name: "deploy_rolled_back", failAt: "deploy", status: store.StatusFailed, err: "ECS rolled back the deployment",
			wantConclusion: "failure", wantTitle: "Deploy failed: ECS rolled back the deployment", wantActions: []string{checks.ActionRedeploy}},
		{name: "deploy_timeout", failAt: "deploy", status: store.StatusTimeout, err: "no result within 30m0s",
			wantConclusion: "timed_out", wantTitle: "Deploy timed out", wantActions: []string{checks.ActionRedeploy}},
		{name: "deploy_cancelled", failAt: "deploy", status: store.StatusCanceled, err: "cancelled by octocat",
			wantConclusion: "cancelled", wantTitle: "Deploy cancelled", wantActions: []string{checks.ActionRedeploy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, r := setup(t)
			ctx := context.Background()
			d := newDeployment()
			queue(t, r, d)
			d.Status = store.StatusRunning
			failIdx := slices.Index(stages, tt.failAt)
			for _, stage := range stages[:failIdx] {
				if err := r.Start(ctx, d, stage); err != nil {
					t.Fatal(err)
				}
				d.StageDurations[stage] = time.Second
				if err := r.Finish(ctx, d, stage, checks.ResultFor(d, stage)); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Start(ctx, d, tt.failAt); err != nil {
				t.Fatal(err)
			}
			d.Status, d.ErrorStage, d.Error = tt.status, tt.failAt, tt.err
			if err := r.Finish(ctx, d, tt.failAt, checks.ResultFor(d, tt.failAt, tt.annotations...)); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if err := r.Skip(ctx, d, stages[failIdx+1:]...); err != nil {
				t.Fatalf("Skip: %v", err)
			}

			got := runs(t, s)
			for i, stage := range stages {
				want := []string{"queued", "in_progress", "completed:success"}
				switch {
				case i == failIdx:
					want = []string{"queued", "in_progress", "completed:" + tt.wantConclusion}
				case i > failIdx:
					want = []string{"queued", "completed:skipped"}
				}
				if !slices.Equal(states(got[stage]), want) {
					t.Errorf("%s: states %v, want %v", stage, states(got[stage]), want)
				}
				if i > failIdx && got[stage].Output.Title != "Skipped: "+tt.failAt+" failed" {
					t.Errorf("%s: title %q", stage, got[stage].Output.Title)
				}
			}
			failed := got[tt.failAt]
			if failed.Output.Title != tt.wantTitle || !strings.Contains(failed.Output.Summary, tt.err) {
				t.Errorf("failed stage output: %q\n%s", failed.Output.Title, failed.Output.Summary)
			}
			if !slices.Equal(actionIDs(got["deploy"]), tt.wantActions) {
				t.Errorf("deploy actions %v, want %v", actionIDs(got["deploy"]), tt.wantActions)
			}
			var wantAnns []githubtest.Annotation
			for _, a := range tt.annotations {
				wantAnns = append(wantAnns, githubtest.Annotation{
					Path: strings.TrimPrefix(a.Path, "./"), StartLine: a.Line, EndLine: a.Line,
					AnnotationLevel: "failure", Message: a.Message,
				})
			}
			if !slices.Equal(failed.Output.Annotations, wantAnns) {
				t.Errorf("annotations %+v, want %+v", failed.Output.Annotations, wantAnns)
			}
			assertAccepted(t, s, 0)
		})
	}
}

func TestWaiting(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	d := newDeployment()
	queue(t, r, d)
	if err := r.Waiting(context.Background(), d, "dep_Running123", 2); err != nil {
		t.Fatalf("Waiting: %v", err)
	}
	for stage, cr := range runs(t, s) {
		if cr.Status != "queued" || cr.Output.Title != "Queued behind dep_Running123 (position 2)" ||
			!strings.Contains(cr.Output.Summary, "Another deployment to `production` is running") {
			t.Errorf("%s: %s %q\n%s", stage, cr.Status, cr.Output.Title, cr.Output.Summary)
		}
	}
	assertAccepted(t, s, 0)
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestLogCoalesced(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	if err := r.Start(ctx, d, "build"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 1; i <= 120; i++ {
		if err := r.Log(ctx, d, "build", fmt.Sprintf("Step %d/120 : RUN make part-%d", i, i)); err != nil {
			t.Fatalf("Log: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if time.Since(start) > 3*time.Second {
		t.Skip("machine too slow for a one-second burst")
	}
	if err := r.Finish(ctx, d, "build", checks.Result{Conclusion: checks.ConclusionSuccess}); err != nil {
		t.Fatal(err)
	}
	build := runs(t, s)["build"]
	// queued, in_progress, then at most two log updates, then completed.
	if n := len(build.History); n < 3 || n > 5 {
		t.Errorf("build check run updated %d times for 120 lines", n)
	}
	text := build.Output.Text
	for _, want := range []string{"Step 1/120 :", "Step 119/120 :", "Step 120/120 : RUN make part-120\n```"} {
		if !strings.Contains(text, want) {
			t.Errorf("final text lacks %q:\n%s", want, text)
		}
	}
	assertAccepted(t, s, 0)
}

func TestLogInterval(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, r := setup(t, func(r *checks.Reporter) { r.Now, r.MinInterval = c.Now, 3*time.Second })
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	if err := r.Start(ctx, d, "build"); err != nil {
		t.Fatal(err)
	}
	// One line a second for ten seconds: updates at 3s, 6s and 9s.
	for i := 1; i <= 10; i++ {
		c.Advance(time.Second)
		if err := r.Log(ctx, d, "build", fmt.Sprintf("line %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	h := runs(t, s)["build"].History
	var texts []string
	for _, e := range h[2:] {
		texts = append(texts, e.Output.Text)
	}
	if len(texts) != 3 || !strings.Contains(texts[0], "line 3\n```") || !strings.Contains(texts[2], "line 9\n```") {
		t.Fatalf("log updates: %q, want three, at lines 3, 6 and 9", texts)
	}
	if h[len(h)-1].Output.Title != "Building the image" {
		t.Errorf("log update title %q", h[len(h)-1].Output.Title)
	}
}

func TestLogTailBounded(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	long := strings.Repeat("x", 120)
	for i := 1; i <= 3000; i++ {
		_ = r.Log(ctx, d, "build", fmt.Sprintf("%04d %s", i, long))
	}
	_ = r.Log(ctx, d, "build", "\x1b[31mred ``` fence\x1b[0m")
	if err := r.Finish(ctx, d, "build", checks.Result{Conclusion: checks.ConclusionFailure}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	text := runs(t, s)["build"].Output.Text
	if n := len([]rune(text)); n > 65535 {
		t.Errorf("text has %d characters", n)
	}
	if !strings.Contains(text, "earlier lines not shown") || !strings.Contains(text, "3000 "+long) || strings.Contains(text, "0001 "+long) {
		t.Errorf("text is not the tail: starts %q", text[:200])
	}
	if !strings.HasSuffix(text, "red ``` fence\n````") {
		t.Errorf("text ends %q, want the cleaned last line inside a longer fence", text[len(text)-40:])
	}
	assertAccepted(t, s, 0)
}

// annotationCounts returns the number of annotations in each request body
// that carried output.
func annotationCounts(t *testing.T, s *githubtest.Server) []int {
	t.Helper()
	var counts []int
	for _, req := range s.Requests() {
		var body struct {
			Output *struct {
				Annotations []json.RawMessage `json:"annotations"`
			} `json:"output"`
			Conclusion string `json:"conclusion"`
		}
		if req.Method != http.MethodPatch || json.Unmarshal(req.Body, &body) != nil || body.Output == nil {
			continue
		}
		counts = append(counts, len(body.Output.Annotations))
	}
	return counts
}

func TestAnnotationBatches(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	var anns []checks.Annotation
	for i := 1; i <= 120; i++ {
		anns = append(anns, checks.Annotation{Path: "Dockerfile", Line: i, Message: fmt.Sprintf("problem %d", i), Level: "warning"})
	}
	res := checks.Result{Conclusion: checks.ConclusionFailure, Annotations: anns}
	if err := r.Finish(ctx, d, "build", res); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if got := annotationCounts(t, s); !slices.Equal(got, []int{50, 50, 20}) {
		t.Errorf("annotations per request %v, want [50 50 20]", got)
	}
	build := runs(t, s)["build"]
	if len(build.Output.Annotations) != 120 || build.Output.Annotations[119].Message != "problem 120" {
		t.Fatalf("check run holds %d annotations", len(build.Output.Annotations))
	}
	if !slices.Equal(states(build), []string{"queued", "completed:failure"}) {
		t.Errorf("states %v", states(build))
	}
	// A retried Finish does not annotate twice.
	if err := r.Finish(ctx, d, "build", res); err != nil {
		t.Fatalf("Finish again: %v", err)
	}
	if n := len(runs(t, s)["build"].Output.Annotations); n != 120 {
		t.Errorf("after a second Finish: %d annotations, want 120", n)
	}
	assertAccepted(t, s, 0)
}

func TestTransientFaults(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	s.FailNext(1, githubtest.Fault{Status: http.StatusBadGateway})
	s.FailNext(1, githubtest.SecondaryRateLimit(time.Second))
	if err := r.Start(ctx, d, "build"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := r.Log(ctx, d, "build", "Step 1/1 : FROM scratch"); err != nil {
		t.Fatalf("Log: %v", err)
	}
	s.FailNext(1, githubtest.Fault{Status: http.StatusServiceUnavailable})
	if err := r.Finish(ctx, d, "build", checks.Result{Conclusion: checks.ConclusionSuccess}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	build := runs(t, s)["build"]
	if want := []string{"queued", "in_progress", "completed:success"}; !slices.Equal(states(build), want) {
		t.Errorf("states %v, want %v", states(build), want)
	}
	if !strings.Contains(build.Output.Text, "FROM scratch") {
		t.Errorf("text %q", build.Output.Text)
	}
	var statuses []int
	for _, req := range s.Requests() {
		if req.Method == http.MethodPatch {
			statuses = append(statuses, req.Status)
		}
	}
	if want := []int{502, 403, 200, 503, 200}; !slices.Equal(statuses, want) {
		t.Errorf("PATCH answers %v, want %v", statuses, want)
	}
	assertAccepted(t, s, 3)
}

func TestNoSecretsSent(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	ctx := context.Background()
	const token = "ghs_FAKEfake0123456789abcdefABCDEF012345"
	const ecr = "QVdTOmV5SndZWGxzYjJGa0lqb2lZV0pqWkdWbUluMD0="
	const keyID = "AKIAIOSFODNN7EXAMPLE"
	d := newDeployment()
	queue(t, r, d)
	if err := r.Start(ctx, d, "clone"); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"git -c http.extraHeader='Authorization: Basic " + token + "' fetch",
		"remote: https://x-access-token:" + token + "@github.com/octo-org/app.git",
		"docker login -p " + ecr,
		"using key " + keyID,
	} {
		if err := r.Log(ctx, d, "clone", line); err != nil {
			t.Fatal(err)
		}
	}
	d.Status, d.ErrorStage = store.StatusFailed, "clone"
	d.Error = "clone failed: fatal: unable to access 'https://x-access-token:" + token + "@github.com/octo-org/app.git/'"
	res := checks.ResultFor(d, "clone", checks.Annotation{Path: ".panda.yml", Line: 1, Message: "token " + token})
	if err := r.Finish(ctx, d, "clone", res); err != nil {
		t.Fatal(err)
	}
	for _, req := range s.Requests() {
		for _, secret := range []string{token, ecr, keyID} {
			if strings.Contains(string(req.Body), secret) {
				t.Errorf("%s %s sent a secret: %s", req.Method, req.Path, req.Body)
			}
		}
	}
	clone := runs(t, s)["clone"]
	if !strings.Contains(clone.Output.Text, "x-access-token:[REDACTED]@github.com") || !strings.Contains(clone.Output.Summary, "[REDACTED]") {
		t.Errorf("redacted output lost its context:\n%s\n%s", clone.Output.Text, clone.Output.Summary)
	}
	assertAccepted(t, s, 0)
}

// flakyAPI fails the failOn-th CreateCheckRun.
type flakyAPI struct {
	checks.API
	mu      sync.Mutex
	creates int
	failOn  int
}

func (f *flakyAPI) CreateCheckRun(ctx context.Context, owner, repo string, opts github.CreateCheckRunOptions) (*github.CheckRun, *github.Response, error) {
	f.mu.Lock()
	f.creates++
	fail := f.creates == f.failOn
	f.mu.Unlock()
	if fail {
		return nil, nil, errors.New("connection reset by peer")
	}
	return f.API.CreateCheckRun(ctx, owner, repo, opts)
}

func TestQueueIdempotent(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	real := r.Clients
	flaky := &flakyAPI{failOn: 3} // the controls run, clone, then build
	r.Clients = func(ctx context.Context, id int64) (checks.API, error) {
		api, err := real(ctx, id)
		flaky.API = api
		return flaky, err
	}
	ctx := context.Background()
	d := newDeployment()
	ids, err := r.Queue(ctx, d)
	if err == nil || checks.IsPermanent(err) || len(ids) != 2 || ids["clone"] == 0 || ids[checks.ControlsKey] == 0 {
		t.Fatalf("Queue with a failing third create = %v, %v; want the controls and clone ids and a transient error", ids, err)
	}
	d.CheckRuns = ids
	queue(t, r, d)
	queue(t, r, d) // all ids known: nothing to create
	got := runs(t, s)
	if len(got) != 4 {
		t.Fatalf("%d check runs, want 4", len(got))
	}
	for stage, cr := range got {
		if d.CheckRuns[stage] != cr.ID {
			t.Errorf("%s: id %d, record says %d", stage, cr.ID, d.CheckRuns[stage])
		}
	}
	if flaky.creates != 6 {
		t.Errorf("%d creates, want 6 (one failed)", flaky.creates)
	}
	assertAccepted(t, s, 0)
}

func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	ctx := context.Background()
	d := newDeployment()
	err := r.Start(ctx, d, "build")
	if !errors.Is(err, checks.ErrNoCheckRun) || !checks.IsPermanent(err) {
		t.Errorf("Start without ids: %v", err)
	}
	d.CheckRuns = map[string]int64{"build": 987654}
	err = r.Start(ctx, d, "build")
	var ge *github.ErrorResponse
	if !errors.As(err, &ge) || ge.Response.StatusCode != http.StatusNotFound || !checks.IsPermanent(err) {
		t.Errorf("Start on an unknown check run: %v", err)
	}
	if err := r.Finish(ctx, d, "build", checks.Result{Conclusion: "done"}); !checks.IsPermanent(err) {
		t.Errorf("Finish with a bad conclusion: %v", err)
	}
	if err := r.Start(ctx, d, "test"); !checks.IsPermanent(err) {
		t.Errorf("Start of an unknown stage: %v", err)
	}
	d.Repo = "no-slash"
	if _, err := r.Queue(ctx, d); !checks.IsPermanent(err) {
		t.Errorf("Queue for a malformed repository: %v", err)
	}
	if len(s.CheckRuns(testRepo)) != 0 {
		t.Error("a check run was created")
	}
}

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	answer := func(code int) *http.Response {
		req, _ := http.NewRequest(http.MethodPatch, "https://api.github.com/repos/o/r/check-runs/1", nil)
		return &http.Response{StatusCode: code, Request: req}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "unprocessable", err: fmt.Errorf("update: %w", &github.ErrorResponse{Response: answer(422)}), want: true},
		{name: "not_found", err: &github.ErrorResponse{Response: answer(404)}, want: true},
		{name: "forbidden", err: &github.ErrorResponse{Response: answer(403)}, want: true},
		{name: "unauthorized", err: &github.ErrorResponse{Response: answer(401)}, want: false},
		{name: "bad_gateway", err: &github.ErrorResponse{Response: answer(502)}, want: false},
		{name: "too_many_requests", err: &github.ErrorResponse{Response: answer(429)}, want: false},
		{name: "primary_rate_limit", err: fmt.Errorf("x: %w", &github.RateLimitError{Response: answer(403)}), want: false},
		{name: "secondary_rate_limit", err: &github.AbuseRateLimitError{Response: answer(403)}, want: false},
		{name: "no_check_run", err: fmt.Errorf("x: %w", checks.ErrNoCheckRun), want: true},
		{name: "network", err: errors.New("connection refused"), want: false},
		{name: "canceled", err: context.Canceled, want: false},
		{name: "nil", err: nil, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := checks.IsPermanent(tt.err); got != tt.want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestConcurrentLogAndFinish(t *testing.T) {
	t.Parallel()
	s, r := setup(t, func(r *checks.Reporter) { r.MinInterval = time.Millisecond })
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				_ = r.Log(ctx, d, "push", fmt.Sprintf("worker %d line %d", w, i))
			}
		}()
	}
	wg.Wait()
	if err := r.Finish(ctx, d, "push", checks.Result{Conclusion: checks.ConclusionSuccess}); err != nil {
		t.Fatal(err)
	}
	// Lines logged after Finish must not overwrite the final output.
	_ = r.Log(ctx, d, "push", "late line")
	push := runs(t, s)["push"]
	if push.Output.Title != "Pushed the image" || strings.Contains(push.Output.Text, "late line") || strings.Count(push.Output.Text, "worker") != 80 {
		t.Errorf("final output %q:\n%s", push.Output.Title, push.Output.Text)
	}
	if last := push.History[len(push.History)-1]; last.Status != "completed" {
		t.Errorf("last update has status %s", last.Status)
	}
	assertAccepted(t, s, 0)
}

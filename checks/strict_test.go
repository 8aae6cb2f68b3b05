package checks_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/redact"
	"github.com/pandadeploy/panda/store"
)

// TestMultibyteLogPastTheByteLimit: a build log in Korean and emoji, far past
// GitHub's 65,535 bytes (and an error message as long), must not make an
// update fail with 422: the run completes and shows the end of the log.
func TestMultibyteLogPastTheByteLimit(t *testing.T) {
	t.Parallel()
	s, r := setup(t, func(r *checks.Reporter) { r.MinInterval = 1 }) // every line is an update
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	if err := r.Start(ctx, d, "build"); err != nil {
		t.Fatal(err)
	}
	var last string
	for i := range 400 { // 400 × ~600 bytes ≈ 240 kB
		last = fmt.Sprintf("단계 %d: 패키지를 설치하는 중 🐼🚀 %s", i, strings.Repeat("빌드", 90))
		if err := r.Log(ctx, d, "build", last); err != nil {
			t.Fatalf("Log %d: %v", i, err)
		}
	}
	d.Status, d.ErrorStage = store.StatusFailed, "build"
	d.Error = "RUN npm ci 실패: " + strings.Repeat("의존성을 찾을 수 없습니다 😕 ", 4000)
	res := checks.Result{
		Conclusion:  checks.ConclusionFailure,
		Annotations: []checks.Annotation{checks.DockerfileAnnotation("Dockerfile", 3, "RUN npm ci", strings.Repeat("오류 ", 30000))},
	}
	if err := r.Finish(ctx, d, "build", res); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	build := runs(t, s)["build"]
	if build.Status != "completed" || build.Conclusion != checks.ConclusionFailure {
		t.Fatalf("build run is %s/%s, want completed/failure", build.Status, build.Conclusion)
	}
	for name, text := range map[string]string{"title": build.Output.Title, "summary": build.Output.Summary, "text": build.Output.Text} {
		if len(text) > 65535 || !utf8.ValidString(text) {
			t.Errorf("%s: %d bytes, valid UTF-8 %t", name, len(text), utf8.ValidString(text))
		}
	}
	if !strings.Contains(build.Output.Text, last) || !strings.HasSuffix(build.Output.Text, "```") {
		t.Errorf("text does not end with the log's last line in its fence: …%q", build.Output.Text[len(build.Output.Text)-200:])
	}
	if !strings.HasPrefix(build.Output.Text, "_") {
		t.Errorf("text does not say that earlier lines were dropped: %q…", build.Output.Text[:80])
	}
	assertAccepted(t, s, 0)
}

// patches counts the PATCHes the server answered, by check run id.
func patches(s *githubtest.Server) map[string]int {
	out := map[string]int{}
	for _, req := range s.Requests() {
		if req.Method == http.MethodPatch {
			out[req.Path[strings.LastIndexByte(req.Path, '/')+1:]]++
		}
	}
	return out
}

// TestWaitingLeavesCompletedRunsAlone: while a deployment waits for its
// environment, its completed clone, build and push runs are never written
// (GitHub does not let them go back to queued), and the waiting run is
// written only when its place in line changes.
func TestWaitingLeavesCompletedRunsAlone(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	for _, stage := range []string{"clone", "build", "push"} {
		if err := r.Start(ctx, d, stage); err != nil {
			t.Fatal(err)
		}
		if stage != "push" {
			// The record knows clone and build finished; push only this
			// Reporter knows of, as after a Finish whose record write is
			// still to come.
			d.StageDurations[stage] = 1
		}
		if err := r.Finish(ctx, d, stage, checks.Result{Conclusion: checks.ConclusionSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	before := patches(s)
	for _, pos := range []int{2, 2, 2, 2, 1, 1} { // a poll every 5 s, the line moves once
		if err := r.Waiting(ctx, d, "dep_Running123", pos); err != nil {
			t.Fatalf("Waiting(%d): %v", pos, err)
		}
	}
	// A fresh Reporter (another worker) knows the finished stages from the
	// record only, which by then holds push too, and shows the position once.
	other := &checks.Reporter{Clients: r.Clients}
	d2 := *d
	d2.StageDurations = map[string]time.Duration{"clone": 1, "build": 1, "push": 1}
	if err := other.Waiting(ctx, &d2, "dep_Running123", 1); err != nil {
		t.Fatal(err)
	}
	after := patches(s)
	for _, stage := range []string{"clone", "build", "push"} {
		id := fmt.Sprint(d.CheckRuns[stage])
		if after[id] != before[id] {
			t.Errorf("%s: %d writes while waiting, want none", stage, after[id]-before[id])
		}
	}
	deploy := fmt.Sprint(d.CheckRuns["deploy"])
	if n := after[deploy] - before[deploy]; n != 3 {
		t.Errorf("deploy: %d writes while waiting, want 3 (position 2, position 1, once from the other worker)", n)
	}
	if got := runs(t, s)["deploy"]; got.Status != "queued" || got.Output.Title != "Queued behind dep_Running123 (position 1)" {
		t.Errorf("deploy run %s %q", got.Status, got.Output.Title)
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations: %+v", v)
	}
	assertAccepted(t, s, 0)
}

// TestQueueAfterCreatedThen502: GitHub creates a check run and answers 502;
// the run is found, not created again.
func TestQueueAfterCreatedThen502(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	s.FailNext(2, githubtest.CreatedThen502("POST /repos/{owner}/{repo}/check-runs"))
	d := newDeployment()
	queue(t, r, d)
	got := runs(t, s) // fails on two runs of one name
	if len(got) != 4 {
		t.Fatalf("%d check runs, want 4", len(got))
	}
	for stage, cr := range got {
		if d.CheckRuns[stage] != cr.ID || cr.ExternalID != d.ID {
			t.Errorf("%s: id %d external_id %q, record says %d", stage, cr.ID, cr.ExternalID, d.CheckRuns[stage])
		}
	}
	// A retried Queue that lost its ids (a crash before the record was
	// stored) finds them too.
	d.CheckRuns = nil
	queue(t, r, d)
	if n := len(s.CheckRuns(testRepo)); n != 5 {
		t.Fatalf("%d check runs after a retry without ids, want 4 and the controls run", n)
	}
	assertAccepted(t, s, 2)
}

// TestRedactsIssuedTokensByValue: a token GitHub issued, echoed by a build,
// never reaches the check run, even cut where no pattern would know it.
func TestRedactsIssuedTokensByValue(t *testing.T) {
	t.Parallel()
	var red redact.Redactor
	s, r := setup(t, func(r *checks.Reporter) { r.Redactor = &red })
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	// The token Panda was issued for the clone, in GitHub's stateless format.
	f, err := githubapp.New(githubapp.Config{AppID: s.AppID(), PrivateKey: s.PrivateKeyPEM(), APIURL: s.URL()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.RepoToken(ctx, 7, testRepo)
	if err != nil {
		t.Fatal(err)
	}
	value := tok.Value
	red.Add(value, "registry-password-1234")
	if err := r.Start(ctx, d, "clone"); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"fatal: could not read from https://x-access-token:" + value + "@github.com/octo-org/app",
		"Authorization: token " + value,
		"echo " + value[6:], // without "ghs_1_": no GitHub pattern matches the rest
		"docker login -p registry-password-1234",
	} {
		if err := r.Log(ctx, d, "clone", line); err != nil {
			t.Fatal(err)
		}
	}
	d.Error = "clone failed with " + value
	if err := r.Finish(ctx, d, "clone", checks.Result{Conclusion: checks.ConclusionFailure}); err != nil {
		t.Fatal(err)
	}
	for _, req := range s.Requests() {
		body := string(req.Body)
		for _, leak := range []string{value, value[6:], value[len(value)-60:], "registry-password-1234"} {
			if strings.Contains(body, leak) {
				t.Fatalf("%s %s sent a secret: %s", req.Method, req.Path, body)
			}
		}
	}
	assertAccepted(t, s, 0)
}

package githubtest_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"
	"gopkg.in/yaml.v3"

	"github.com/pandadeploy/panda/internal/githubtest"
)

func TestSummaryOverBytesIsGitHubsError(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := installationClient(t, s, 7)
	_, _, err := c.Checks.CreateCheckRun(context.Background(), "octo-org", "app", github.CreateCheckRunOptions{
		Name: "n", HeadSHA: headSHA,
		Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String(strings.Repeat("한", 30000))},
	})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || len(er.Errors) != 1 {
		t.Fatalf("err = %v, want one field error", err)
	}
	if e := er.Errors[0]; e.Code != "custom" || e.Field != "summary" || e.Message != "summary exceeds a maximum bytesize of 65535" {
		t.Fatalf("field error = %+v", e)
	}
}

func TestCompletedRunKeepsItsStatus(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	cr, _, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{
		Name: "panda/build", HeadSHA: headSHA, Conclusion: github.String("success"),
	})
	if err != nil {
		t.Fatal(err)
	}
	update := func(opts github.UpdateCheckRunOptions) error {
		opts.Name = "panda/build"
		_, _, err := c.Checks.UpdateCheckRun(ctx, "octo-org", "app", cr.GetID(), opts)
		return err
	}
	out := &github.CheckRunOutput{Title: github.String("Queued behind dep_x"), Summary: github.String("waiting")}
	if err := update(github.UpdateCheckRunOptions{Status: github.String("queued"), Output: out}); statusOf(err) != 422 {
		t.Fatalf("back to queued: err = %v, want 422", err)
	}
	if err := update(github.UpdateCheckRunOptions{Status: github.String("in_progress")}); statusOf(err) != 422 {
		t.Fatalf("back to in_progress: err = %v, want 422", err)
	}
	if err := update(github.UpdateCheckRunOptions{Conclusion: github.String("failure")}); statusOf(err) != 422 {
		t.Fatalf("another conclusion: err = %v, want 422", err)
	}
	// Output and the same conclusion again are fine: annotations past the first
	// 50 arrive this way, and a retried finish sends the same conclusion.
	if err := update(github.UpdateCheckRunOptions{Output: out}); err != nil {
		t.Fatalf("output only: %v", err)
	}
	if err := update(github.UpdateCheckRunOptions{Status: github.String("completed"), Conclusion: github.String("success")}); err != nil {
		t.Fatalf("same conclusion: %v", err)
	}
	runs := s.CheckRuns(repo)
	if runs[0].Status != "completed" || runs[0].Conclusion != "success" {
		t.Fatalf("run = %s/%s, want completed/success", runs[0].Status, runs[0].Conclusion)
	}
	v := s.Violations()
	if len(v) != 3 || v[0].CheckRunID != cr.GetID() || !strings.Contains(v[0].Rule, "queued") {
		t.Fatalf("Violations = %+v, want the three refused updates", v)
	}
}

func TestButtonsOnlyOnCompletedRuns(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	cr, _, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{
		Name: "panda/deploy", HeadSHA: headSHA, Status: github.String("in_progress"),
		Actions: []*github.CheckRunAction{{Label: "Cancel", Description: "Stop", Identifier: "cancel"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PressAction(repo, cr.GetID(), "cancel"); err == nil {
		t.Fatal("pressed a button of a run in progress; GitHub does not show it")
	}
	if _, _, err := c.Checks.UpdateCheckRun(ctx, "octo-org", "app", cr.GetID(), github.UpdateCheckRunOptions{Name: "panda/deploy", Conclusion: github.String("success")}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PressAction(repo, cr.GetID(), "cancel"); err != nil || got.ID != cr.GetID() {
		t.Fatalf("PressAction on the completed run = %+v, %v", got, err)
	}
	if _, err := s.PressAction(repo, cr.GetID(), "rollback"); err == nil {
		t.Fatal("pressed a button the run does not carry")
	}
}

// ghsPattern is GitHub's recommended pattern for installation tokens of
// either format (PSModule/GitHub#603, github/gh-aw#35016).
var ghsPattern = regexp.MustCompile(`^ghs_[A-Za-z0-9._-]{36,}$`)

func TestInstallationTokensAreStateless(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok, _, err := appClient(t, s).Apps.CreateInstallationToken(context.Background(), 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := tok.GetToken()
	if !strings.HasPrefix(v, "ghs_1_") || len(v) < 500 || strings.Count(v, ".") != 2 || !ghsPattern.MatchString(v) {
		t.Fatalf("token %q (%d chars) is not ghs_APPID_JWT", v, len(v))
	}
	if !s.TokenCanRead(v, repo) {
		t.Fatal("the issued token does not read its repository")
	}
}

func TestCreatedThen502(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	s.FailNext(1, githubtest.CreatedThen502("POST /repos/{owner}/{repo}/issues/{number}/comments"))
	// A request of another route passes the queued fault by.
	if _, _, err := c.Issues.ListComments(ctx, "octo-org", "app", 5, nil); err != nil {
		t.Fatalf("ListComments: %v", err)
	}
	_, _, err := c.Issues.CreateComment(ctx, "octo-org", "app", 5, &github.IssueComment{Body: github.String("hello")})
	if statusOf(err) != http.StatusBadGateway {
		t.Fatalf("CreateComment err = %v, want 502", err)
	}
	if got := s.Comments(repo, 5); len(got) != 1 || got[0].Body != "hello" {
		t.Fatalf("Comments = %+v, want the comment created behind the 502", got)
	}
	if _, _, err := c.Issues.CreateComment(ctx, "octo-org", "app", 5, &github.IssueComment{Body: github.String("again")}); err != nil {
		t.Fatalf("the fault was used once: %v", err)
	}
}

func TestGetHookDelivery(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	id := s.AddHookDelivery(githubtest.HookDelivery{Event: "push", Payload: []byte(`{"ref":"refs/heads/main"}`)})
	d, _, err := appClient(t, s).Apps.GetHookDelivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if d.GetID() != id || d.GetEvent() != "push" || d.Request == nil || string(*d.Request.RawPayload) != `{"ref":"refs/heads/main"}` ||
		d.Request.Headers["X-GitHub-Delivery"] != d.GetGUID() {
		t.Fatalf("GetHookDelivery = %+v", d)
	}
	if _, _, err := appClient(t, s).Apps.GetHookDelivery(context.Background(), id+100); statusOf(err) != 404 {
		t.Fatalf("unknown delivery: err = %v, want 404", err)
	}
}

func TestDeploymentDefaultsAreNotNeutral(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	const mainHead = "fedcba9876543210fedcba9876543210fedcba98"
	s.SetBranch(repo, "main", mainHead)
	if _, _, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{Name: "panda/deploy", HeadSHA: headSHA}); err != nil {
		t.Fatal(err)
	}
	create := func(req github.DeploymentRequest) (*github.Response, error) {
		req.Ref = github.String(headSHA)
		_, resp, err := c.Repositories.CreateDeployment(ctx, "octo-org", "app", &req)
		return resp, err
	}
	// auto_merge defaults to true: GitHub would merge main into the SHA.
	if _, err := create(github.DeploymentRequest{RequiredContexts: &[]string{}}); statusOf(err) != http.StatusConflict {
		t.Fatalf("auto_merge left out: err = %v, want 409", err)
	}
	// required_contexts left out: every context must be success, and the
	// queued panda/deploy is not.
	_, err := create(github.DeploymentRequest{AutoMerge: github.Bool(false)})
	var er *github.ErrorResponse
	if statusOf(err) != http.StatusConflict || !errors.As(err, &er) || !strings.Contains(er.Message, "Commit status checks failed") {
		t.Fatalf("required_contexts left out: err = %v, want 409", err)
	}
	if resp, err := create(github.DeploymentRequest{AutoMerge: github.Bool(false), RequiredContexts: &[]string{}}); err != nil || resp.StatusCode != 201 {
		t.Fatalf("both set: %v, %v", resp, err)
	}
	if got := s.Deployments(repo); len(got) != 1 {
		t.Fatalf("%d deployments, want 1: refused requests create none", len(got))
	}
	// A branch behind main is merged: 202 and no deployment.
	s.AddPullRequest(repo, githubtest.PullRequest{Number: 3, HeadSHA: headSHA, HeadRef: "topic", BaseRef: "main"})
	d, resp, err := c.Repositories.CreateDeployment(ctx, "octo-org", "app", &github.DeploymentRequest{Ref: github.String("topic"), RequiredContexts: &[]string{}})
	if resp == nil || resp.StatusCode != http.StatusAccepted || d.GetID() != 0 {
		t.Fatalf("branch behind main: %v, %v, %v; want 202 without a deployment", d, resp, err)
	}
}

// TestPermissionsAreTheManifests keeps the installation's permissions equal to
// app.yml's default_permissions: a call the App may not make must fail here
// as it would on GitHub.
func TestPermissionsAreTheManifests(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../app.yml")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		DefaultPermissions map[string]string `yaml:"default_permissions"`
	}
	if err := yaml.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	s := newServer(t)
	inst, _, err := appClient(t, s).Apps.GetInstallation(context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	p := inst.GetPermissions()
	for name, v := range map[string]*string{
		"checks": p.Checks, "contents": p.Contents, "deployments": p.Deployments, "issues": p.Issues,
		"metadata": p.Metadata, "pull_requests": p.PullRequests, "statuses": p.Statuses, "administration": p.Administration,
		"members": p.Members,
	} {
		if v != nil {
			got[name] = *v
		}
	}
	if len(got) != len(manifest.DefaultPermissions) {
		t.Fatalf("installation permissions %v, manifest %v", got, manifest.DefaultPermissions)
	}
	for name, level := range manifest.DefaultPermissions {
		if got[name] != level {
			t.Fatalf("permission %s = %q, manifest %q", name, got[name], level)
		}
	}
}

package githubtest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/internal/githubtest"
)

const (
	repo    = "octo-org/app"
	headSHA = "0123456789abcdef0123456789abcdef01234567"
)

// installationClient returns a go-github client for installation id that gets
// its tokens through ghinstallation, laid out as for GitHub Enterprise Server.
func installationClient(t *testing.T, s *githubtest.Server, id int64) *github.Client {
	t.Helper()
	itr, err := ghinstallation.New(http.DefaultTransport, s.AppID(), id, s.PrivateKeyPEM())
	if err != nil {
		t.Fatalf("ghinstallation.New: %v", err)
	}
	itr.BaseURL = s.URL() + "/api/v3"
	c, err := github.NewClient(&http.Client{Transport: itr}).WithEnterpriseURLs(s.URL(), s.URL())
	if err != nil {
		t.Fatalf("WithEnterpriseURLs: %v", err)
	}
	return c
}

// appClient returns a go-github client authenticated as the App, laid out as
// for GitHub.com (routes at the root).
func appClient(t *testing.T, s *githubtest.Server) *github.Client {
	t.Helper()
	atr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, s.AppID(), s.PrivateKeyPEM())
	if err != nil {
		t.Fatalf("NewAppsTransport: %v", err)
	}
	return rootClient(t, s, atr)
}

func rootClient(t *testing.T, s *githubtest.Server, rt http.RoundTripper) *github.Client {
	t.Helper()
	c := github.NewClient(&http.Client{Transport: rt})
	u, _ := c.BaseURL.Parse(s.URL() + "/")
	c.BaseURL = u
	return c
}

func newServer(t *testing.T) *githubtest.Server {
	s := githubtest.NewServer(t)
	s.AddInstallation(7, repo, "octo-org/other")
	s.AddInstallation(8, "someone/else")
	return s
}

// statusOf returns the HTTP status of a go-github error, or 0.
func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		return er.Response.StatusCode
	}
	return 0
}

func TestAppRoutes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	app, _, err := appClient(t, s).Apps.Get(ctx, "")
	if err != nil || app.GetID() != s.AppID() || app.GetSlug() != githubtest.AppSlug {
		t.Fatalf("Apps.Get = %+v, %v", app, err)
	}
	inst, _, err := appClient(t, s).Apps.GetInstallation(ctx, 7)
	if err != nil || inst.GetID() != 7 || inst.GetAccount().GetLogin() != "octo-org" {
		t.Fatalf("GetInstallation = %+v, %v", inst, err)
	}
	if _, _, err := appClient(t, s).Apps.GetInstallation(ctx, 99); statusOf(err) != 404 {
		t.Fatalf("unknown installation: err = %v, want 404", err)
	}
}

func TestAccessTokenScoping(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	apps := appClient(t, s).Apps
	tok, _, err := apps.CreateInstallationToken(ctx, 7, &github.InstallationTokenOptions{
		Repositories: []string{"app"},
		Permissions:  &github.InstallationPermissions{Contents: github.String("read")},
	})
	if err != nil {
		t.Fatalf("CreateInstallationToken: %v", err)
	}
	if left := time.Until(tok.GetExpiresAt().Time); left < 59*time.Minute || left > time.Hour {
		t.Errorf("expires in %v, want about 1h", left)
	}
	if len(tok.Repositories) != 1 || tok.Repositories[0].GetFullName() != repo || tok.GetPermissions().GetContents() != "read" {
		t.Errorf("token scope = %v %v", tok.Repositories, tok.GetPermissions())
	}
	// The scoped token reads nothing outside its repository and permissions.
	c := rootClient(t, s, &tokenTransport{token: tok.GetToken()})
	if _, _, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA}); statusOf(err) != 403 {
		t.Errorf("check run with contents-only token: err = %v, want 403", err)
	}
	if _, _, err := c.PullRequests.Get(ctx, "octo-org", "other", 1); statusOf(err) != 404 {
		t.Errorf("repository outside the token: err = %v, want 404", err)
	}

	tests := []struct {
		name string
		opts *github.InstallationTokenOptions
	}{
		{name: "unknown_repository", opts: &github.InstallationTokenOptions{Repositories: []string{"nope"}}},
		{name: "other_installations_repository", opts: &github.InstallationTokenOptions{Repositories: []string{"else"}}},
		{name: "unknown_repository_id", opts: &github.InstallationTokenOptions{RepositoryIDs: []int64{1}}},
		{name: "permission_not_granted", opts: &github.InstallationTokenOptions{Permissions: &github.InstallationPermissions{Administration: github.String("write")}}},
		{name: "permission_escalated", opts: &github.InstallationTokenOptions{Permissions: &github.InstallationPermissions{Contents: github.String("write")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := apps.CreateInstallationToken(ctx, 7, tt.opts); statusOf(err) != 422 {
				t.Fatalf("err = %v, want 422", err)
			}
		})
	}
}

// tokenTransport sends a fixed installation token.
type tokenTransport struct{ token string }

func (t *tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "token "+t.token)
	return http.DefaultTransport.RoundTrip(r)
}

// jwtTransport signs each request with the claims and key it holds.
type jwtTransport struct {
	key    *rsa.PrivateKey
	claims jwt.MapClaims
}

func (t *jwtTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, t.claims).SignedString(t.key)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+signed)
	return http.DefaultTransport.RoundTrip(r)
}

func TestJWTRejections(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	appKey, err := jwt.ParseRSAPrivateKeyFromPEM(s.PrivateKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	iss := strconv.FormatInt(s.AppID(), 10)
	tests := []struct {
		name   string
		key    *rsa.PrivateKey
		claims jwt.MapClaims
		want   int
	}{
		{name: "valid", key: appKey, claims: jwt.MapClaims{"iss": iss, "iat": now - 30, "exp": now + 540}, want: 200},
		{name: "numeric_iss", key: appKey, claims: jwt.MapClaims{"iss": s.AppID(), "iat": now - 30, "exp": now + 540}, want: 200},
		{name: "wrong_key", key: otherKey, claims: jwt.MapClaims{"iss": iss, "iat": now - 30, "exp": now + 540}, want: 401},
		{name: "expired", key: appKey, claims: jwt.MapClaims{"iss": iss, "iat": now - 700, "exp": now - 100}, want: 401},
		{name: "lives_too_long", key: appKey, claims: jwt.MapClaims{"iss": iss, "iat": now - 30, "exp": now + 900}, want: 401},
		{name: "issued_in_future", key: appKey, claims: jwt.MapClaims{"iss": iss, "iat": now + 300, "exp": now + 500}, want: 401},
		{name: "other_app", key: appKey, claims: jwt.MapClaims{"iss": "42", "iat": now - 30, "exp": now + 540}, want: 401},
		{name: "no_exp", key: appKey, claims: jwt.MapClaims{"iss": iss, "iat": now - 30}, want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := rootClient(t, s, &jwtTransport{key: tt.key, claims: tt.claims})
			_, resp, err := c.Apps.Get(context.Background(), "")
			if resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("GET /app: resp = %v, err = %v, want %d", resp, err, tt.want)
			}
		})
	}
	// An installation token is no App credential.
	tok, _, err := appClient(t, s).Apps.CreateInstallationToken(context.Background(), 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rootClient(t, s, &tokenTransport{token: tok.GetToken()}).Apps.Get(context.Background(), ""); statusOf(err) != 401 {
		t.Fatalf("GET /app with installation token: err = %v, want 401", err)
	}
}

func TestInstallationTokenRejections(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	if _, _, err := c.PullRequests.Get(ctx, "someone", "else", 1); statusOf(err) != 404 {
		t.Errorf("other installation's repository: err = %v, want 404", err)
	}
	if _, _, err := rootClient(t, s, http.DefaultTransport).PullRequests.Get(ctx, "octo-org", "app", 1); statusOf(err) != 401 {
		t.Errorf("no token: err = %v, want 401", err)
	}
	if _, _, err := rootClient(t, s, &tokenTransport{token: "ghs_forged"}).PullRequests.Get(ctx, "octo-org", "app", 1); statusOf(err) != 401 {
		t.Errorf("forged token: err = %v, want 401", err)
	}
	tok, _, err := appClient(t, s).Apps.CreateInstallationToken(ctx, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.ExpireTokens()
	if _, _, err := rootClient(t, s, &tokenTransport{token: tok.GetToken()}).Checks.GetCheckRun(ctx, "octo-org", "app", 1); statusOf(err) != 401 {
		t.Errorf("expired token: err = %v, want 401", err)
	}
}

func TestCheckRunLifecycle(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	cr, resp, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{
		Name: "panda/build", HeadSHA: headSHA, ExternalID: github.String("dep_abc"),
		DetailsURL: github.String("https://panda.example/d/dep_abc"), Status: github.String("in_progress"),
		Actions: []*github.CheckRunAction{{Label: "Cancel", Description: "Stop this deployment", Identifier: "cancel"}},
	})
	if err != nil || resp.StatusCode != 201 || cr.GetStatus() != "in_progress" {
		t.Fatalf("CreateCheckRun = %+v, %v", cr, err)
	}
	_, _, err = c.Checks.UpdateCheckRun(ctx, "octo-org", "app", cr.GetID(), github.UpdateCheckRunOptions{
		Name: "panda/build", Conclusion: github.String("failure"),
		Output: &github.CheckRunOutput{
			Title: github.String("Build failed"), Summary: github.String("step 3 failed"), Text: github.String("log"),
			Annotations: []*github.CheckRunAnnotation{{
				Path: github.String("Dockerfile"), StartLine: github.Int(3), EndLine: github.Int(3),
				AnnotationLevel: github.String("failure"), Message: github.String("RUN make failed"),
			}},
		},
	})
	if err != nil {
		t.Fatalf("UpdateCheckRun: %v", err)
	}
	got, _, err := c.Checks.GetCheckRun(ctx, "octo-org", "app", cr.GetID())
	if err != nil || got.GetStatus() != "completed" || got.GetConclusion() != "failure" || got.GetOutput().GetAnnotationsCount() != 1 || got.CompletedAt == nil {
		t.Fatalf("GetCheckRun = %+v, %v", got, err)
	}
	list, _, err := c.Checks.ListCheckRunsForRef(ctx, "octo-org", "app", headSHA, nil)
	if err != nil || list.GetTotal() != 1 || list.CheckRuns[0].GetID() != cr.GetID() {
		t.Fatalf("ListCheckRunsForRef = %+v, %v", list, err)
	}
	runs := s.CheckRuns(repo)
	if len(runs) != 1 {
		t.Fatalf("CheckRuns = %d runs, want 1", len(runs))
	}
	r := runs[0]
	if r.ExternalID != "dep_abc" || r.Output.Title != "Build failed" || r.Output.Annotations[0].Path != "Dockerfile" ||
		len(r.Actions) != 1 || r.Actions[0].Identifier != "cancel" || len(r.History) != 2 || r.History[0].Status != "in_progress" {
		t.Fatalf("CheckRuns()[0] = %+v", r)
	}
}

func TestCheckRunValidation(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	ann := func(level string) *github.CheckRunAnnotation {
		return &github.CheckRunAnnotation{Path: github.String("a"), StartLine: github.Int(1), EndLine: github.Int(1), AnnotationLevel: github.String(level), Message: github.String("m")}
	}
	output := func(summary string, anns ...*github.CheckRunAnnotation) *github.CheckRunOutput {
		return &github.CheckRunOutput{Title: github.String("t"), Summary: github.String(summary), Annotations: anns}
	}
	many := make([]*github.CheckRunAnnotation, 51)
	for i := range many {
		many[i] = ann("notice")
	}
	action := func(label, desc, id string) []*github.CheckRunAction {
		return []*github.CheckRunAction{{Label: label, Description: desc, Identifier: id}}
	}
	tests := []struct {
		name string
		opts github.CreateCheckRunOptions
		want int
	}{
		{name: "valid", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output("s", ann("warning"))}, want: 201},
		{name: "missing_name", opts: github.CreateCheckRunOptions{HeadSHA: headSHA}, want: 422},
		{name: "missing_head_sha", opts: github.CreateCheckRunOptions{Name: "n"}, want: 422},
		{name: "bad_status", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Status: github.String("running")}, want: 422},
		{name: "completed_without_conclusion", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Status: github.String("completed")}, want: 422},
		{name: "bad_conclusion", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Conclusion: github.String("failed")}, want: 422},
		{name: "output_without_title", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: &github.CheckRunOutput{Summary: github.String("s")}}, want: 422},
		{name: "summary_too_long", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output(strings.Repeat("x", 65536))}, want: 422},
		{name: "summary_at_limit", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output(strings.Repeat("x", 65535))}, want: 201},
		// 21,846 Hangul syllables are 65,538 bytes: under the reference's
		// "65535 characters", over the bytes GitHub counts.
		{name: "multibyte_summary_over_bytes", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output(strings.Repeat("한", 21846))}, want: 422},
		{name: "multibyte_text_over_bytes", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Text: github.String(strings.Repeat("🐼", 16384))}}, want: 422},
		{name: "multibyte_summary_at_bytes", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output(strings.Repeat("한", 21845))}, want: 201},
		{name: "title_over_255_bytes", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: &github.CheckRunOutput{Title: github.String(strings.Repeat("é", 128)), Summary: github.String("s")}}, want: 422},
		{name: "annotation_message_over_64kb", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output("s", &github.CheckRunAnnotation{Path: github.String("a"), StartLine: github.Int(1), EndLine: github.Int(1), AnnotationLevel: github.String("notice"), Message: github.String(strings.Repeat("ü", 32768))})}, want: 422},
		{name: "annotation_title_over_255_bytes", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output("s", &github.CheckRunAnnotation{Path: github.String("a"), StartLine: github.Int(1), EndLine: github.Int(1), AnnotationLevel: github.String("notice"), Message: github.String("m"), Title: github.String(strings.Repeat("t", 256))})}, want: 422},
		{name: "annotation_raw_details_over_64kb", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output("s", &github.CheckRunAnnotation{Path: github.String("a"), StartLine: github.Int(1), EndLine: github.Int(1), AnnotationLevel: github.String("notice"), Message: github.String("m"), RawDetails: github.String(strings.Repeat("r", 65536))})}, want: 422},
		{name: "actions_only_status_waiting", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Status: github.String("waiting")}, want: 422},
		{name: "actions_only_status_pending", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Status: github.String("pending")}, want: 422},
		{name: "51_annotations", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output("s", many...)}, want: 422},
		{name: "bad_annotation_level", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Output: output("s", ann("error"))}, want: 422},
		{name: "four_actions", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Actions: append(append(action("a", "b", "c"), action("a", "b", "c")...), append(action("a", "b", "c"), action("a", "b", "c")...)...)}, want: 422},
		{name: "long_action_label", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Actions: action(strings.Repeat("l", 21), "d", "i")}, want: 422},
		{name: "long_action_description", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Actions: action("l", strings.Repeat("d", 41), "i")}, want: 422},
		{name: "long_action_identifier", opts: github.CreateCheckRunOptions{Name: "n", HeadSHA: headSHA, Actions: action("l", "d", strings.Repeat("i", 21))}, want: 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, resp, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", tt.opts)
			if resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("status = %v, err = %v, want %d", resp, err, tt.want)
			}
			var er *github.ErrorResponse
			if tt.want == 422 && (!errors.As(err, &er) || len(er.Errors) == 0 || er.DocumentationURL == "") {
				t.Fatalf("422 without GitHub's error JSON: %v", err)
			}
		})
	}
}

func TestCommentsReactionsPermissionsPulls(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	s.SetPermission(repo, "alice", "maintain")
	s.AddPullRequest(repo, githubtest.PullRequest{Number: 5, HeadSHA: headSHA, HeadRef: "feature", HeadRepo: "mallory/app", BaseRef: "main", User: "mallory"})
	userComment := s.AddComment(repo, 5, githubtest.Comment{User: "alice", Body: "/deploy"})

	perm, _, err := c.Repositories.GetPermissionLevel(ctx, "octo-org", "app", "alice")
	if err != nil || perm.GetPermission() != "write" || perm.GetRoleName() != "maintain" || perm.GetUser().GetLogin() != "alice" {
		t.Fatalf("GetPermissionLevel(alice) = %+v, %v", perm, err)
	}
	perm, _, err = c.Repositories.GetPermissionLevel(ctx, "octo-org", "app", "bob")
	if err != nil || perm.GetPermission() != "none" {
		t.Fatalf("GetPermissionLevel(bob) = %+v, %v", perm, err)
	}
	pr, _, err := c.PullRequests.Get(ctx, "octo-org", "app", 5)
	if err != nil || pr.GetHead().GetSHA() != headSHA || !pr.GetHead().GetRepo().GetFork() || pr.GetBase().GetRef() != "main" {
		t.Fatalf("PullRequests.Get = %+v, %v", pr, err)
	}

	if _, resp, err := c.Reactions.CreateIssueCommentReaction(ctx, "octo-org", "app", userComment, "eyes"); err != nil || resp.StatusCode != 201 {
		t.Fatalf("reaction: %v", err)
	}
	if _, resp, err := c.Reactions.CreateIssueCommentReaction(ctx, "octo-org", "app", userComment, "eyes"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("repeated reaction: resp %v, err %v, want 200", resp, err)
	}
	if _, _, err := c.Reactions.CreateIssueCommentReaction(ctx, "octo-org", "app", userComment, "thumbsup"); statusOf(err) != 422 {
		t.Fatalf("bad reaction content: err = %v, want 422", err)
	}
	if got := s.Reactions(userComment); len(got) != 1 || got[0].Content != "eyes" {
		t.Fatalf("Reactions = %+v", got)
	}

	if _, _, err := c.Issues.CreateComment(ctx, "octo-org", "app", 5, &github.IssueComment{Body: github.String("Deploying…")}); err != nil {
		t.Fatalf("CreateComment: %v", err)
	}
	if _, _, err := c.Issues.CreateComment(ctx, "octo-org", "app", 5, &github.IssueComment{}); statusOf(err) != 422 {
		t.Fatalf("empty comment: err = %v, want 422", err)
	}
	listed, _, err := c.Issues.ListComments(ctx, "octo-org", "app", 5, nil)
	if err != nil || len(listed) != 2 || listed[1].GetUser().GetLogin() != githubtest.AppSlug+"[bot]" {
		t.Fatalf("ListComments = %v, %v", listed, err)
	}
	if got := s.Comments(repo, 5); len(got) != 2 || got[1].Body != "Deploying…" {
		t.Fatalf("Comments = %+v", got)
	}
}

func TestDeployments(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	create := func() *github.Deployment {
		d, _, err := c.Repositories.CreateDeployment(ctx, "octo-org", "app", &github.DeploymentRequest{
			Ref: github.String(headSHA), Environment: github.String("staging"), AutoMerge: github.Bool(false),
		})
		if err != nil {
			t.Fatalf("CreateDeployment: %v", err)
		}
		return d
	}
	first := create()
	for _, state := range []string{"in_progress", "success"} {
		if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, "octo-org", "app", first.GetID(), &github.DeploymentStatusRequest{State: github.String(state)}); err != nil {
			t.Fatalf("CreateDeploymentStatus(%s): %v", state, err)
		}
	}
	if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, "octo-org", "app", first.GetID(), &github.DeploymentStatusRequest{State: github.String("done")}); statusOf(err) != 422 {
		t.Fatalf("bad state: err = %v, want 422", err)
	}
	second := create()
	if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, "octo-org", "app", second.GetID(), &github.DeploymentStatusRequest{State: github.String("success")}); err != nil {
		t.Fatal(err)
	}
	statuses, _, err := c.Repositories.ListDeploymentStatuses(ctx, "octo-org", "app", first.GetID(), nil)
	if err != nil || len(statuses) != 3 || statuses[0].GetState() != "inactive" {
		t.Fatalf("first deployment's statuses = %v, %v; want newest inactive", statuses, err)
	}
	listed, _, err := c.Repositories.ListDeployments(ctx, "octo-org", "app", &github.DeploymentsListOptions{Environment: "staging"})
	if err != nil || len(listed) != 2 || listed[0].GetID() != second.GetID() || listed[0].GetSHA() != headSHA {
		t.Fatalf("ListDeployments = %v, %v", listed, err)
	}
	if got := s.Deployments(repo); len(got) != 2 || len(got[1].Statuses) != 1 || got[0].Environment != "staging" {
		t.Fatalf("Deployments = %+v", got)
	}
}

func TestHookDeliveries(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	var ids []int64
	for i := range 3 {
		ids = append(ids, s.AddHookDelivery(githubtest.HookDelivery{Event: "push", InstallationID: 7, StatusCode: 502 + i, Status: "Bad Gateway"}))
	}
	apps := appClient(t, s).Apps
	page, resp, err := apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 2})
	if err != nil || len(page) != 2 || page[0].GetID() != ids[2] || resp.Cursor == "" {
		t.Fatalf("first page = %v, cursor %q, %v", page, resp.Cursor, err)
	}
	page, _, err = apps.ListHookDeliveries(ctx, &github.ListCursorOptions{PerPage: 2, Cursor: resp.Cursor})
	if err != nil || len(page) != 1 || page[0].GetID() != ids[0] || page[0].GetStatusCode() != 502 {
		t.Fatalf("second page = %v, %v", page, err)
	}
	if _, resp, err := apps.RedeliverHookDelivery(ctx, ids[0]); err != nil && resp.StatusCode != 202 {
		t.Fatalf("redeliver: %v", err)
	}
	if _, _, err := apps.RedeliverHookDelivery(ctx, 1); statusOf(err) != 404 {
		t.Fatalf("redeliver unknown: err = %v, want 404", err)
	}
	all := s.HookDeliveries()
	if got := s.Redeliveries(); len(got) != 1 || got[0] != ids[0] || len(all) != 4 || !all[3].Redelivery || all[3].GUID != all[0].GUID {
		t.Fatalf("Redeliveries = %v, deliveries = %+v", got, all)
	}
}

func TestFailNextAndRecords(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	s.AddPullRequest(repo, githubtest.PullRequest{Number: 1, HeadSHA: headSHA, HeadRef: "f", BaseRef: "main"})
	// Both clients hold a token before the faults, so the faults hit the PR reads.
	// (go-github refuses calls until a secondary limit's Retry-After has passed,
	// hence the second client.)
	c2 := installationClient(t, s, 7)
	for _, cl := range []*github.Client{c, c2} {
		if _, _, err := cl.PullRequests.Get(ctx, "octo-org", "app", 1); err != nil {
			t.Fatal(err)
		}
	}
	s.FailNext(1, githubtest.SecondaryRateLimit(time.Minute))
	s.FailNext(1, githubtest.Fault{Status: 502})
	_, _, err := c.PullRequests.Get(ctx, "octo-org", "app", 1)
	var rl *github.AbuseRateLimitError
	if !errors.As(err, &rl) || rl.GetRetryAfter() != time.Minute {
		t.Fatalf("first failure = %v, want secondary rate limit with Retry-After", err)
	}
	if _, _, err := c2.PullRequests.Get(ctx, "octo-org", "app", 1); statusOf(err) != 502 {
		t.Fatalf("second failure = %v, want 502", err)
	}
	reqs := s.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != "GET" || last.Path != "/repos/octo-org/app/pulls/1" || !last.Enterprise || last.Status != 502 {
		t.Fatalf("last request = %+v", last)
	}
	for _, r := range reqs {
		if a := r.Header.Get("Authorization"); a != "" && a != "REDACTED" {
			t.Fatalf("request %s %s recorded credential %q", r.Method, r.Path, a)
		}
	}
}

package githubtest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/internal/githubtest"
)

// TestRepoPage reads the repository page after an App has done through the API
// what Panda does: a comment with a reaction, a completed check run with a
// markdown table, annotations and a button, and a Deployment with statuses.
func TestRepoPage(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c := installationClient(t, s, 7)
	s.AddPullRequest(repo, githubtest.PullRequest{Number: 3, Title: "Make <b>it</b> faster", HeadSHA: headSHA, HeadRef: "fast", BaseRef: "main", User: "alice"})
	cid := s.AddComment(repo, 3, githubtest.Comment{User: "alice", Body: "/deploy <script>alert(1)</script>"})
	if _, _, err := c.Reactions.CreateIssueCommentReaction(ctx, "octo-org", "app", cid, "eyes"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Issues.CreateComment(ctx, "octo-org", "app", 3, &github.IssueComment{
		Body: github.String("Deploying **production**.\n<!-- panda:marker -->\n[evil](javascript:alert(1))"),
	}); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Checks.CreateCheckRun(ctx, "octo-org", "app", github.CreateCheckRunOptions{
		Name: "panda/build", HeadSHA: headSHA, Status: github.String("completed"), Conclusion: github.String("failure"),
		Output: &github.CheckRunOutput{
			Title:   github.String("Build failed at step 2"),
			Summary: github.String("| stage | took |\n| --- | --- |\n| build | 3s |"),
			Text:    github.String("```\nRUN false\n```"),
			Annotations: []*github.CheckRunAnnotation{{
				Path: github.String("Dockerfile"), StartLine: github.Int(2), EndLine: github.Int(2),
				AnnotationLevel: github.String("failure"), Message: github.String("RUN false: exit code 1"),
			}},
		},
		Actions: []*github.CheckRunAction{{Label: "Deploy again", Description: "Deploy this commit again", Identifier: "redeploy"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dep, _, err := c.Repositories.CreateDeployment(ctx, "octo-org", "app", &github.DeploymentRequest{
		Ref: github.String(headSHA), Environment: github.String("production"), AutoMerge: github.Bool(false), RequiredContexts: &[]string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"in_progress", "success"} {
		if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, "octo-org", "app", dep.GetID(), &github.DeploymentStatusRequest{
			State: github.String(st), EnvironmentURL: github.String("http://blue.example"), Description: github.String("state " + st),
		}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(s.Requests())

	body := getPage(t, s.URL()+"/"+repo, http.StatusOK)
	for _, want := range []string{
		`Make &lt;b&gt;it&lt;/b&gt; faster`,
		"<p>/deploy <!-- raw HTML omitted -->alert(1)", // raw HTML in markdown is dropped, as GitHub sanitizes it
		`data-content="eyes"`, `👀 1`,
		`Deploying <strong>production</strong>.`,
		`data-name="panda/build" data-status="completed" data-conclusion="failure"`,
		`Build failed at step 2`,
		"<th>stage</th>", "<td>3s</td>", // a GFM table
		"<code>RUN false\n</code>",
		`Dockerfile#L2`, `RUN false: exit code 1`,
		`data-identifier="redeploy"`, `>Deploy again</button>`,
		`data-environment="production" data-state="success"`,
		`state success`, `href="http://blue.example"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "javascript:", "panda:marker", "<b>it</b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q: it must be escaped or dropped", bad)
		}
	}
	if strings.Index(body, "state success") > strings.Index(body, "state in_progress") {
		t.Error("deployment statuses are not newest first, as GitHub lists them")
	}
	if n := len(s.Requests()); n != before {
		t.Errorf("reading the page recorded %d API requests", n-before)
	}
	getPage(t, s.URL()+"/octo-org/unknown", http.StatusNotFound)
}

func getPage(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, want, b)
	}
	if want == http.StatusOK {
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy %q allows loading from elsewhere", csp)
		}
	}
	return string(b)
}

package checks

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name.golden, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendering; run go test ./checks -update if the change is intended\n--- got\n%s", path, got)
	}
}

// renderResult lays a Result out as a person reads it on GitHub.
func renderResult(r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "title: %s\nconclusion: %s\n", r.Title, r.Conclusion)
	for _, a := range r.Annotations {
		fmt.Fprintf(&b, "annotation: %s:%d %s: %s\n", a.Path, a.Line, a.Level, a.Message)
	}
	return b.String() + "\n" + r.Summary
}

func goldenDeployment() *store.Deployment {
	return &store.Deployment{
		ID: "dep_AbCdEf1234", Status: store.StatusRunning, Repo: "octo-org/app", InstallationID: 7,
		SHA: "0123456789abcdef0123456789abcdef01234567", Branch: "main", Environment: "production",
		Trigger: "push", Actor: "octocat",
		StageDurations: map[string]time.Duration{"clone": 1234 * time.Millisecond},
	}
}

const (
	goldenImage = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/octo-org-app@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
	goldenARN   = "arn:aws:states:ap-northeast-2:123456789012:execution:panda-bluegreen:dep_AbCdEf1234"
)

func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		render func() string
	}{
		{name: "success", render: func() string {
			d := goldenDeployment()
			d.Status = store.StatusSucceeded
			d.StageDurations = map[string]time.Duration{"clone": 1234 * time.Millisecond, "build": 83 * time.Second, "push": 9 * time.Second, "deploy": 4*time.Minute + 12*time.Second}
			d.ImageURI, d.ExecutionARN = goldenImage, goldenARN
			d.BlueURL, d.GreenURL = "https://blue.app.example.com", "https://app.example.com"
			return renderResult(ResultFor(d, "deploy"))
		}},
		{name: "build_failure", render: func() string {
			d := goldenDeployment()
			d.Status, d.ErrorStage = store.StatusFailed, "build"
			d.StageDurations["build"] = 14 * time.Second
			d.Error = "build failed at docker/Dockerfile line 7 (RUN make build): The command '/bin/sh -c make build' returned a non-zero code: 2"
			return renderResult(ResultFor(d, "build",
				DockerfileAnnotation("docker/Dockerfile", 7, "RUN make build", "The command '/bin/sh -c make build' returned a non-zero code: 2")))
		}},
		{name: "deploy_failure_rollback", render: func() string {
			d := goldenDeployment()
			d.Status, d.ErrorStage = store.StatusFailed, "deploy"
			d.StageDurations = map[string]time.Duration{"clone": time.Second, "build": 61 * time.Second, "push": 5 * time.Second, "deploy": 7 * time.Minute}
			d.ImageURI, d.ExecutionARN = goldenImage, goldenARN
			d.BlueURL = "https://blue.app.example.com"
			d.Error = "ECS rolled back the deployment: the green tasks failed their health checks (BlueGreenDeployment)"
			return renderResult(ResultFor(d, "deploy"))
		}},
		{name: "timeout", render: func() string {
			d := goldenDeployment()
			d.Status, d.ErrorStage = store.StatusTimeout, "deploy"
			d.StageDurations = map[string]time.Duration{"clone": time.Second, "build": 61 * time.Second, "push": 5 * time.Second, "deploy": 30 * time.Minute}
			d.ImageURI, d.ExecutionARN = goldenImage, goldenARN
			d.Error = "The deployment did not finish within 30m0s; the execution was stopped."
			return renderResult(ResultFor(d, "deploy"))
		}},
		{name: "queued_behind", render: func() string {
			d := goldenDeployment()
			d.Status, d.StageDurations = store.StatusQueued, nil
			return "title: " + fmt.Sprintf("Queued behind %s (position %d)", "dep_Zz9Yy8Xx7W", 2) + "\n\n" + waitingSummary(d, "dep_Zz9Yy8Xx7W", 2)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			golden(t, tt.name, tt.render())
		})
	}
}

func TestSummaryForInfersPhase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status store.Status
		stage  string
		errAt  string
		want   string
	}{
		{name: "queued", status: store.StatusQueued, stage: "push", want: "### ⏸️ Queued\n"},
		{name: "running", status: store.StatusRunning, stage: "build", want: "### ⏳ Building…\n"},
		{name: "done", status: store.StatusRunning, stage: "clone", want: "### ✅ Cloned in 1.2s\n"},
		{name: "failed", status: store.StatusFailed, stage: "build", errAt: "build", want: "### ❌ Build failed\n"},
		{name: "skipped", status: store.StatusFailed, stage: "deploy", errAt: "build", want: "### ⏭️ Skipped: build failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := goldenDeployment()
			d.Status, d.ErrorStage = tt.status, tt.errAt
			if got := SummaryFor(d, tt.stage); !strings.HasPrefix(got, tt.want) {
				t.Errorf("SummaryFor starts %q, want %q", got[:min(len(got), 60)], tt.want)
			}
		})
	}
}

func TestConsoleURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		arn  string
		want string
	}{
		{name: "execution", arn: goldenARN,
			want: "https://ap-northeast-2.console.aws.amazon.com/states/home?region=ap-northeast-2#/v2/executions/details/" + goldenARN},
		{name: "us_east", arn: "arn:aws:states:us-east-1:123456789012:execution:sm:dep_1",
			want: "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:sm:dep_1"},
		{name: "state_machine", arn: "arn:aws:states:us-east-1:123456789012:stateMachine:sm"},
		{name: "china", arn: "arn:aws-cn:states:cn-north-1:123456789012:execution:sm:dep_1"},
		{name: "host_injection", arn: "arn:aws:states:evil.example/x:123456789012:execution:sm:dep_1"},
		{name: "markdown_injection", arn: "arn:aws:states:us-east-1:123456789012:execution:sm:a)[x](y"},
		{name: "empty"},
		{name: "made_up_partition", arn: "arn:aws-foo:states:us-east-1:123456789012:execution:sm:dep_1"},
		{name: "gov_region_in_commercial", arn: "arn:aws:states:us-gov-west-1:123456789012:execution:sm:dep_1"},
		{name: "short_account", arn: "arn:aws:states:us-east-1:123:execution:sm:dep_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ConsoleURL(tt.arn); got != tt.want {
				t.Errorf("ConsoleURL(%q) = %q, want %q", tt.arn, got, tt.want)
			}
		})
	}
}

func TestMarkdownEscaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "code_plain", got: code("main"), want: "`main`"},
		{name: "code_backticks", got: code("a`b``c"), want: "```a`b``c```"},
		{name: "code_edge_backtick", got: code("`x"), want: "`` `x ``"},
		{name: "link_https", got: link("https://app.example.com/x"), want: "<https://app.example.com/x>"},
		{name: "link_javascript", got: link("javascript:alert(1)"), want: "`javascript:alert(1)`"},
		{name: "link_angle", got: link("https://a.example/<b>"), want: "`https://a.example/<b>`"},
		{name: "fence", got: fenced("x\n````\ny", "text"), want: "`````text\nx\n````\ny\n`````"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

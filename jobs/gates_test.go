package jobs_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
)

func (h *harness) checkRun(name string) githubtest.CheckRun {
	h.t.Helper()
	for _, r := range h.gh.CheckRuns(testRepo) {
		if r.Name == name {
			return r
		}
	}
	h.t.Fatalf("no check run %s", name)
	return githubtest.CheckRun{}
}

func finding(id string, sev ecrtypes.FindingSeverity) ecrtypes.ImageScanFinding {
	return ecrtypes.ImageScanFinding{Name: aws.String(id), Severity: sev, Uri: aws.String("https://security-tracker.debian.org/tracker/" + id),
		Attributes: []ecrtypes.Attribute{{Key: aws.String("package_name"), Value: aws.String("openssl")}, {Key: aws.String("package_version"), Value: aws.String("3.0.1")}}}
}

// TestScanGate: the rollout waits for ECR's scan of the pushed digest (read
// through the real SDK from the ECR model, which finds the image in the
// registry), then runs or is blocked by the findings.
func TestScanGate(t *testing.T) {
	t.Parallel()
	many := []ecrtypes.ImageScanFinding{finding("CVE-2024-0002", ecrtypes.FindingSeverityMedium)}
	for i := range 1100 { // past one page of 1,000: the last page holds the HIGH one
		many = append(many, finding(fmt.Sprintf("CVE-2023-%05d", i), ecrtypes.FindingSeverityLow))
	}
	many = append(many, finding("CVE-2024-0009", ecrtypes.FindingSeverityHigh))
	tests := []struct {
		name       string
		scan       string
		findings   []ecrtypes.ImageScanFinding
		wantStatus store.Status
		wantError  string
	}{
		{name: "below_threshold", scan: "{fail_on: HIGH}", findings: []ecrtypes.ImageScanFinding{finding("CVE-2024-0002", ecrtypes.FindingSeverityMedium)},
			wantStatus: store.StatusSucceeded},
		{name: "above_threshold", scan: "{fail_on: HIGH}", findings: []ecrtypes.ImageScanFinding{finding("CVE-2024-0001", ecrtypes.FindingSeverityCritical), finding("CVE-2024-0002", ecrtypes.FindingSeverityMedium)},
			wantStatus: store.StatusFailed, wantError: "ECR's scan found 1 vulnerabilities at or above HIGH (CVE-2024-0001), so the rollout is blocked"},
		{name: "ignored", scan: "{fail_on: HIGH, ignore: [CVE-2024-0001]}", findings: []ecrtypes.ImageScanFinding{finding("CVE-2024-0001", ecrtypes.FindingSeverityCritical)},
			wantStatus: store.StatusSucceeded},
		{name: "high_on_the_second_page", scan: "{fail_on: HIGH}", findings: many,
			wantStatus: store.StatusFailed, wantError: "(CVE-2024-0009)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, 0)
			h.aws.ScriptScan("acme-app", awstest.Scan{NotFound: 1, InProgress: 2, Findings: tt.findings})
			sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi\n"}, h.pandaYML("    scan: "+tt.scan+"\n"))
			h.push(sha, "ship it")
			dep := h.waitFinal(sha, 3*time.Minute)
			if dep.Status != tt.wantStatus || !strings.Contains(dep.Error, tt.wantError) {
				t.Fatalf("status %s (%s: %s), want %s with %q", dep.Status, dep.ErrorStage, dep.Error, tt.wantStatus, tt.wantError)
			}
			_, digest, _ := strings.Cut(dep.ImageURI, "@")
			if n := h.aws.ScanCalls("acme-app", digest); n < 4 {
				t.Errorf("%d scan reads, want the scan waited for (not found, in progress twice, complete)", n)
			}
			push := h.checkRun("panda/push")
			wantConclusion := "success"
			if tt.wantStatus == store.StatusFailed {
				wantConclusion = "failure"
				if dep.ErrorStage != "push" || len(h.aws.Executions(h.smARN)) != 0 {
					t.Errorf("failed at %q with %d executions; want push and none", dep.ErrorStage, len(h.aws.Executions(h.smARN)))
				}
			}
			if push.Conclusion != wantConclusion || !strings.Contains(push.Output.Summary, "#### Image scan") ||
				!strings.Contains(push.Output.Summary, "| openssl | 3.0.1 |") {
				t.Errorf("push check run %s:\n%s", push.Conclusion, push.Output.Summary)
			}
			if tt.name == "above_threshold" && (len(push.Output.Annotations) != 1 || !strings.Contains(push.Output.Annotations[0].Message, "CRITICAL CVE-2024-0001 in openssl 3.0.1")) {
				t.Errorf("annotations %+v", push.Output.Annotations)
			}
		})
	}
}

func freezeYML(start, end time.Time, policy string) string {
	yml := fmt.Sprintf("    freeze:\n      - {start: %q, end: %q, reason: release week}\n", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	if policy != "" {
		yml += "    freeze_policy: " + policy + "\n"
	}
	return yml
}

// TestFreezeHoldsThenRuns: a push inside a freeze stays QUEUED, says why and
// until when, and deploys by itself once the freeze ends.
func TestFreezeHoldsThenRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	end := time.Now().Add(6 * time.Second).Truncate(time.Second)
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi\n"}, h.pandaYML(freezeYML(time.Now().Add(-time.Hour), end, "")))
	h.push(sha, "ship it")
	held := h.waitFor(sha, func(d *store.Deployment) bool {
		for _, ev := range h.events(d.ID) {
			if _, ok := parse(t, ev).(events.Frozen); ok {
				return true
			}
		}
		return false
	})
	if held.Status != store.StatusQueued {
		t.Fatalf("held deployment is %s, want QUEUED", held.Status)
	}
	wantUntil := end.UTC().Format(time.RFC3339)
	waitFor(t, func() bool { return strings.Contains(h.checkRun("panda/deploy").Output.Title, "Frozen until") }, "the check run to say it is frozen")
	if run := h.checkRun("panda/clone"); run.Status != "queued" || !strings.Contains(run.Output.Summary, "frozen until "+wantUntil+" (release week)") {
		t.Errorf("clone check run %s %q:\n%s", run.Status, run.Output.Title, run.Output.Summary)
	}
	dep := h.waitFinal(sha, 3*time.Minute)
	if dep.Status != store.StatusSucceeded {
		t.Fatalf("status %s (%s), want SUCCEEDED after the freeze", dep.Status, dep.Error)
	}
	if dep.StartedAt.Before(end) {
		t.Errorf("started %v, before the freeze ended at %v", dep.StartedAt, end)
	}
}

func TestFreezeRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	end := time.Now().Add(time.Hour)
	sha := h.commit(map[string]string{"Dockerfile": dockerfile, "hello.txt": "hi\n"}, h.pandaYML(freezeYML(time.Now().Add(-time.Hour), end, "refuse")))
	h.push(sha, "ship it")
	dep := h.waitFinal(sha, time.Minute)
	if dep.Status != store.StatusFailed || !strings.Contains(dep.Error, "production is frozen until "+end.UTC().Format(time.RFC3339)+" (release week)") ||
		!strings.Contains(dep.Error, "freeze_policy is refuse") {
		t.Fatalf("status %s (%s), want FAILED saying it is frozen", dep.Status, dep.Error)
	}
	if !dep.StartedAt.IsZero() && len(dep.StageDurations) > 0 || len(h.aws.Executions(h.smARN)) != 0 {
		t.Errorf("a refused deployment ran: %v, %d executions", dep.StageDurations, len(h.aws.Executions(h.smARN)))
	}
	if run := h.checkRun("panda/clone"); run.Conclusion != "failure" || !strings.Contains(run.Output.Summary, "freeze_policy is refuse") {
		t.Errorf("clone check run %s:\n%s", run.Conclusion, run.Output.Summary)
	}
}

// TestForceBreaksFreeze: a repository admin's "/deploy --force" deploys
// through a freeze and is recorded; a writer's is refused with a reply.
func TestForceBreaksFreeze(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	h.gh.SetPermission(testRepo, "wendy", "write")
	h.gh.SetPermission(testRepo, "ada", "admin")
	yml := h.pandaYML(freezeYML(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), ""))

	h.openPR(8, yml, githubtest.PullRequest{User: "wendy"})
	task, _ := h.commentTask(8, true, "wendy", "/deploy --force")
	h.enqueue(task)
	replies := h.waitReply(8, 1)
	if !strings.Contains(replies[0].Body, "@wendy, only admins of acme/app can deploy through a freeze with `--force`") {
		t.Errorf("reply to a writer's --force: %q", replies[0].Body)
	}

	sha := h.openPR(9, yml, githubtest.PullRequest{User: "ada"})
	task, _ = h.commentTask(9, true, "ada", "/deploy production --force")
	h.enqueue(task)
	dep := h.waitFinal(sha, 3*time.Minute)
	if dep.Status != store.StatusSucceeded || dep.ForcedBy != "ada" {
		t.Fatalf("forced deployment %s (%s) by %q, want SUCCEEDED by ada", dep.Status, dep.Error, dep.ForcedBy)
	}
	if list, _ := h.store.List(t.Context(), store.Filter{Repo: testRepo}); len(list) != 1 {
		t.Errorf("%d deployments, want only the admin's", len(list))
	}
	recorded := false
	for _, ev := range h.events(dep.ID) {
		if f, ok := parse(t, ev).(events.Forced); ok && f.Actor == "ada" && strings.Contains(ev.Message, "production is frozen until") {
			recorded = true
		}
	}
	logs := h.logs.String()
	if !recorded || !strings.Contains(logs, `"msg":"freeze broken with /deploy --force","actor":"ada"`) {
		t.Errorf("the forced deployment was not recorded (event %v); log:\n%s", recorded, logs[max(0, len(logs)-2000):])
	}
}

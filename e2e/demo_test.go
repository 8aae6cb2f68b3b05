package e2e

import (
	"bufio"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/chromiumtest"
	"github.com/pandadeploy/panda/internal/demo"
	"github.com/pandadeploy/panda/internal/dockertest"
)

// TestDemo runs the demo program as scripts/dev.sh demo does, waits for its two
// links and reads both pages in headless Chromium as a person would: the
// deployment reaches SUCCEEDED on its live page; GitHub's page shows the four
// panda/* check runs of that deployment concluded success with their rendered
// summaries, the /deploy conversation, and the Deployment with status success.
// Ctrl-C (SIGINT) then stops everything.
func TestDemo(t *testing.T) {
	dockertest.Client(t) // the demo builds on the engine: require it (fails under CI)
	browser := chromiumtest.Start(t)
	bin := filepath.Join(binDir, "demo")
	build := exec.Command("go", "build", "-o", bin, "github.com/pandadeploy/panda/internal/demo/cmd/demo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the demo: %v\n%s", err, out)
	}
	logPath := filepath.Join(t.TempDir(), "demo.log")
	cmd := exec.Command(bin, "-app", filepath.Join(binDir, "app"), "-worker", filepath.Join(binDir, "worker"),
		"-addr", "127.0.0.1:0", "-step", "20ms", "-logs", logPath)
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			logs, _ := os.ReadFile(logPath)
			t.Logf("demo stderr:\n%s\nlog tail:\n%s", stderr.String(), tail(string(logs), 4000))
		}
	})

	var out strings.Builder
	live, gh := waitLinks(t, lines, &out)
	if u, _ := url.Parse(gh); u == nil || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Errorf("GitHub page %q is not on 127.0.0.1", gh)
	}

	tab := browser.Open(live)
	browser.WaitText(tab, "the deployment SUCCEEDED", 3*time.Minute, func(string) bool {
		return browser.Eval(tab, `(document.getElementById("status") || {}).textContent || ""`) == "SUCCEEDED"
	})

	ghTab := browser.Open(gh)
	var runs []seenRun
	var controls *seenRun
	browser.WaitText(ghTab, "the four panda/* check runs concluded success", time.Minute, func(string) bool {
		runs, controls = nil, nil
		for _, r := range checkRunsOf(browser, ghTab, live) {
			if r.Name == "panda" { // the controls run, which carries the buttons
				controls = &r
				continue
			}
			runs = append(runs, r)
		}
		if len(runs) != 4 || controls == nil {
			return false
		}
		for _, r := range runs {
			if r.Status != "completed" || r.Conclusion != "success" {
				return false
			}
		}
		return true
	})
	for i, name := range []string{"panda/clone", "panda/build", "panda/push", "panda/deploy"} {
		r := runs[i]
		if r.Name != name {
			t.Errorf("check run %d is %q, want %q", i, r.Name, name)
		}
		// The summary's markdown is rendered: its stage table is a table, no
		// markdown syntax shows.
		if !r.Table || !strings.Contains(r.Summary, "Duration") || strings.Contains(r.Summary, "| ---") || strings.Contains(r.Summary, "**") {
			t.Errorf("%s summary is not rendered markdown with its stage table: %q", name, r.Summary)
		}
	}
	if !strings.Contains(runs[3].Summary, "Deployed to production") {
		t.Errorf("panda/deploy summary %q does not say it deployed to production", runs[3].Summary)
	}
	if !strings.Contains(runs[3].Buttons, "Roll back") {
		t.Errorf("panda/deploy shows buttons %q, want Roll back after a success", runs[3].Buttons)
	}
	// The controls run, completed from the start so GitHub shows its Cancel,
	// says how the deployment ended and offers what the deploy run offers.
	if controls.Status != "completed" || !strings.Contains(controls.Summary, "SUCCEEDED") || !strings.Contains(controls.Buttons, "Roll back") {
		t.Errorf("the panda controls run shows %+v, want it completed with the end and Roll back", *controls)
	}

	// One read per poll: the page reloads itself every few seconds.
	var prod string
	text := browser.WaitText(ghTab, "the production Deployment with status success", time.Minute, func(string) bool {
		prod = browser.Eval(ghTab, `(() => { const d = document.querySelector('section.deployment[data-environment="production"]');
  return d && d.dataset.state === "success" ? d.innerText : ""; })()`)
		return prod != ""
	})
	if !strings.Contains(prod, "success") || !strings.Contains(prod, "in_progress") {
		t.Errorf("production Deployment shows %q, want its statuses in_progress and success", prod)
	}
	for _, want := range []string{"/deploy preview", "👀", "Deploying"} {
		if !strings.Contains(text, want) {
			t.Errorf("the pull request conversation lacks %q:\n%s", want, text)
		}
	}

	// Ctrl-C stops the demo and everything it started.
	appHost, _ := url.Parse(live)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		out.WriteString(line + "\n")
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("demo exited with %v after Ctrl-C; output:\n%s", err, out.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("demo still running 90 s after Ctrl-C; output:\n%s", out.String())
	}
	for _, addr := range []string{appHost.Host, mustHost(t, gh)} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still answers after the demo stopped", addr)
		}
	}
}

// waitLinks reads the demo's output until it has printed both links.
func waitLinks(t *testing.T, lines <-chan string, out *strings.Builder) (live, gh string) {
	t.Helper()
	timeout := time.After(4 * time.Minute)
	for live == "" || gh == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("demo ended before printing its links; output:\n%s", out.String())
			}
			out.WriteString(line + "\n")
			if v, ok := strings.CutPrefix(line, demo.LiveLabel); ok {
				live = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, demo.GitHubLabel); ok {
				gh = strings.TrimSpace(v)
			}
		case <-timeout:
			t.Fatalf("no links within 4 minutes; output:\n%s", out.String())
		}
	}
	return live, gh
}

type seenRun struct {
	Name, Status, Conclusion, Summary, Buttons string
	Table                                      bool
}

// checkRunsOf reads the check runs on the GitHub page whose Details link
// goes to the deployment's live page, in page order.
func checkRunsOf(b *chromiumtest.Browser, tab, live string) []seenRun {
	js := `JSON.stringify([...document.querySelectorAll("article.check-run")]
  .filter(a => { const d = a.querySelector("a.details"); return d && d.href === ` + jsString(live) + `; })
  .map(a => ({Name: a.dataset.name, Status: a.dataset.status, Conclusion: a.dataset.conclusion,
    Summary: a.querySelector(".summary").innerText, Table: !!a.querySelector(".summary table"),
    Buttons: [...a.querySelectorAll(".actions button")].map(x => x.innerText).join(",")})))`
	var runs []seenRun
	_ = json.Unmarshal([]byte(b.Eval(tab, js)), &runs)
	return runs
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

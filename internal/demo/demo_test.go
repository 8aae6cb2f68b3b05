package demo

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/repoconfig"
	"github.com/pandadeploy/panda/tasks"
	"github.com/pandadeploy/panda/webhook"
)

// TestPayloadsRoute checks that the app would take the demo's deliveries as
// it takes GitHub's: the push queues a push task, the comment a comment task,
// both for the demo's repository and installation.
func TestPayloadsRoute(t *testing.T) {
	sha := strings.Repeat("ab", 20)
	push, err := pushPayload(Repo, "main", zeroSHA, sha, installation)
	if err != nil {
		t.Fatal(err)
	}
	comment, err := commentPayload(Repo, 1, 77, author, "/deploy preview", installation)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		event, wantTask string
		body            []byte
	}{
		{event: "push", wantTask: tasks.TypePush, body: push},
		{event: "issue_comment", wantTask: tasks.TypeComment, body: comment},
	} {
		t.Run(c.event, func(t *testing.T) {
			d, err := webhook.Route(c.event, c.body, tasks.Delivery{ID: deliveryID(), HookID: "1"})
			if err != nil {
				t.Fatalf("Route: %v", err)
			}
			if d.Task == nil || d.Task.Type() != c.wantTask {
				t.Fatalf("Route queued %v (%s), want %s", d.Task, d.Reason, c.wantTask)
			}
			if d.InstallationID != installation || d.Repo != Repo {
				t.Errorf("delivery for installation %d, %q; want %d, %q", d.InstallationID, d.Repo, installation, Repo)
			}
		})
	}
}

// TestSignature is GitHub's documented example: secret "It's a Secret to
// Everybody", payload "Hello, World!" (docs.github.com/webhooks/using-webhooks/
// validating-webhook-deliveries#testing-the-webhook-payload-validation).
func TestSignature(t *testing.T) {
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := signature("It's a Secret to Everybody", []byte("Hello, World!")); got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
}

// TestPandaYAML checks the sample's configuration is one Panda accepts, with
// production on pushes to main and preview on comments only.
func TestPandaYAML(t *testing.T) {
	cfg, err := repoconfig.Parse([]byte(pandaYAML("us-east-1", "arn:aws:states:us-east-1:123456789012:stateMachine:panda-bluegreen")))
	if err != nil {
		t.Fatalf("the sample .panda.yml is refused: %v", err)
	}
	branches := map[string]string{}
	for _, e := range cfg.Environments {
		branches[e.Name] = e.Branch
	}
	if want := map[string]string{"preview": "", "production": "main"}; !maps.Equal(branches, want) {
		t.Errorf("environments and their branches %v, want %v (preview on comments only)", branches, want)
	}
}

func TestSessionCleanupsAndAborts(t *testing.T) {
	var log bytes.Buffer
	s, err := newSession(&log)
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	s.Cleanup(func() { order = append(order, 1) })
	s.Cleanup(func() { order = append(order, 2) })
	dir := s.TempDir()
	if err := s.catch(func() { s.Fatalf("gittest: %v", "boom") }); err == nil || err.Error() != "gittest: boom" {
		t.Errorf("Fatalf became %v, want the message", err)
	}
	if err := s.catch(func() { s.Skipf("no redis-server") }); !strings.Contains(errString(err), errUnavailable.Error()) {
		t.Errorf("Skipf became %v, want it to say a service is unavailable", err)
	}
	if !s.Failed() {
		t.Error("Failed is false after Fatalf")
	}
	s.Logf("git http-backend: %s", "hello")
	s.close()
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Errorf("cleanups ran in order %v, want last first", order)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary directory left behind: %v", err)
	}
	if log.String() != "git http-backend: hello\n" {
		t.Errorf("log = %q", log.String())
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	p := &prefixWriter{w: &out, prefix: "app | "}
	_, _ = p.Write([]byte("one\ntw"))
	_, _ = p.Write([]byte("o\r\nthree"))
	p.flush()
	if want := "app | one\napp | two\napp | three\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

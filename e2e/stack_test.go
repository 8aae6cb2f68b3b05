// Package e2e runs the built app and worker binaries against real Redis, a
// real Docker engine, a real registry and git server, and the GitHub and AWS
// test servers, and checks what a user would see.
package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/gittest"
	"github.com/pandadeploy/panda/internal/registrytest"
	"github.com/pandadeploy/panda/internal/stacktest"
	"github.com/pandadeploy/panda/store"
)

const (
	webhookSecret = "e2e-webhook-secret-5f1c"
	apiToken      = "e2e-api-token-0123456789abcdef"
	repoName      = stacktest.Repo
	installation  = stacktest.Installation
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "panda-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/pandadeploy/panda/cmd/app", "github.com/pandadeploy/panda/cmd/worker")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is one test's world (internal/stacktest) and the processes of Panda
// under test in it. Its service fields are the world's, under short names.
type stack struct {
	t       *testing.T
	w       *stacktest.World
	gh      *githubtest.Server
	git     *gittest.Server
	aws     *awstest.Server
	reg     *registrytest.Registry
	repo    *gittest.Repo
	smARN   string
	appAddr string
	workDir string
	env     []string
	logs    *stacktest.Logs
}

func newStack(t *testing.T) *stack {
	t.Helper()
	return stackOn(t, stacktest.New(t, stacktest.Options{}), os.Getenv("DOCKER_HOST"))
}

// stackOn is the stack of world w, whose worker builds on dockerHost ("" for
// the environment's engine).
func stackOn(t *testing.T, w *stacktest.World, dockerHost string) *stack {
	t.Helper()
	s := &stack{t: t, w: w, gh: w.GitHub, git: w.Git, aws: w.AWS, reg: w.Registry, repo: w.Source,
		smARN: w.StateMachineARN, appAddr: freeAddr(t), workDir: t.TempDir(), logs: w.Logs}
	s.env = w.Env(stacktest.Binaries{Addr: s.appAddr, APIToken: apiToken, WebhookSecret: webhookSecret, WorkDir: s.workDir, DockerHost: dockerHost})
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs a binary of Panda with the stack's environment; it is killed
// when the test ends.
func (s *stack) start(name string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name))
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return cmd
}

func (s *stack) startApp() {
	s.t.Helper()
	s.start("app")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.appAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("app did not become ready; log:\n%s", s.logs)
}

// commit adds a commit to main and makes .panda.yml visible to the contents API.
func (s *stack) commit(files map[string]string) string {
	s.t.Helper()
	return s.w.Commit("main", files, s.w.PandaYML(""))
}

// pushPayload is the real push fixture, pointed at the test repository and commit.
func pushPayload(t *testing.T, sha string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../webhook/testdata/push.branch.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["ref"], m["after"] = "refs/heads/main", sha
	m["head_commit"].(map[string]any)["id"] = sha
	m["repository"].(map[string]any)["full_name"] = repoName
	m["installation"] = map[string]any{"id": installation}
	out, _ := json.Marshal(m)
	return out
}

func (s *stack) postWebhook(event, delivery string, body []byte) int {
	s.t.Helper()
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.appAddr+"/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-GitHub-Hook-ID", "7")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// apiGet calls the API with the token and decodes the envelope's data.
func (s *stack) apiGet(path string, data any) int {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.appAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err == nil && data != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, data); err != nil {
			s.t.Fatalf("decode %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

type deploymentView struct {
	ID     string `json:"deploymentId"`
	Status string `json:"status"`
}

// deployments lists the deployments of sha through the API.
func (s *stack) deployments(sha string) []deploymentView {
	s.t.Helper()
	var out []deploymentView
	s.apiGet("/api/v1/deployments?repo="+repoName+"&sha="+sha, &out)
	return out
}

func (s *stack) waitFinal(sha string, within time.Duration) deploymentView {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		deps := s.deployments(sha)
		if len(deps) > 1 {
			s.t.Fatalf("%d deployments for one commit: %+v", len(deps), deps)
		}
		if len(deps) == 1 && isFinal(deps[0].Status) {
			return deps[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("no final deployment of %s within %v; log tail:\n%s", sha, within, tail(s.logs.String(), 3000))
	return deploymentView{}
}

func isFinal(status string) bool {
	switch status {
	case "SUCCEEDED", "FAILED", "TIMEOUT", "CANCELED", "SUPERSEDED":
		return true
	}
	return false
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// sseFrame is one event of a stream as a client received it: its SSE event
// name and its data.
type sseFrame struct {
	name string
	data store.StreamEvent
}

// readSSE reads a deployment's event stream until it ends and returns its
// events in order.
func (s *stack) readSSE(ctx context.Context, id string) []sseFrame {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.appAddr+"/api/v1/deploy/"+id+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		s.t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	body, _ := io.ReadAll(resp.Body)
	var out []sseFrame
	var cur sseFrame
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			cur.name = name
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			if err := json.Unmarshal([]byte(data), &cur.data); err != nil {
				s.t.Fatalf("event data %s: %v", data, err)
			}
			out = append(out, cur)
			cur = sseFrame{}
		}
	}
	return out
}

// waitEvent waits until an event of sha's deployment contains text. It reads
// the stream from Redis, as any app instance would.
func (s *stack) waitEvent(sha, text string, within time.Duration) {
	s.t.Helper()
	st := s.w.Store()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, d := range s.deployments(sha) {
			evs, err := st.Events(context.Background(), d.ID, "", 10000, 0)
			if err != nil {
				s.t.Fatal(err)
			}
			for _, ev := range evs {
				if strings.Contains(ev.Message, text) {
					return
				}
			}
		}
	}
	s.t.Fatalf("no event saying %q within %v; log tail:\n%s", text, within, tail(s.logs.String(), 3000))
}

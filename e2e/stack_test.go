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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/gittest"
	"github.com/pandadeploy/panda/internal/registrytest"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/store"
)

const (
	webhookSecret = "e2e-webhook-secret-5f1c"
	apiToken      = "e2e-api-token-0123456789abcdef"
	repoName      = "acme/app"
	installation  = int64(42)
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

// stack is Panda's world for one test: the services it talks to and the
// processes under test.
type stack struct {
	t       *testing.T
	redis   string
	gh      *githubtest.Server
	git     *gittest.Server
	aws     *awstest.Server
	reg     *registrytest.Registry
	repo    *gittest.Repo
	smARN   string
	appAddr string
	workDir string
	env     []string
	logs    *lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newStack(t *testing.T) *stack {
	t.Helper()
	dockertest.Client(t) // the worker builds on the engine: require it
	s := &stack{t: t, redis: testenv.Redis(t), workDir: t.TempDir(), logs: &lockedBuffer{}}
	s.aws = awstest.NewServer(t, awstest.WithStep(20*time.Millisecond))
	user, pass := s.aws.RegistryAuth()
	s.reg = registrytest.New(t, registrytest.Options{Username: user, Password: pass})
	s.aws.SetRegistryURL(s.reg.URL())
	s.smARN = s.aws.StateMachineARN("panda-bluegreen")
	s.aws.AddStateMachine(s.smARN, awstest.BlueGreenDefinition())
	s.gh = githubtest.NewServer(t)
	s.gh.AddInstallation(installation, repoName)
	s.git = gittest.NewServerWithTokens(t, s.gh.TokenCanRead)
	s.repo = s.git.CreateRepo("acme", "app")
	s.appAddr = freeAddr(t)
	s.env = s.baseEnv(s.git.URL(), os.Getenv("DOCKER_HOST"))
	return s
}

// baseEnv is the environment Panda's binaries run with against the stack's
// services: git at gitURL, the Docker engine at dockerHost ("" for the default).
func (s *stack) baseEnv(gitURL, dockerHost string) []string {
	creds := s.aws.Credentials()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.t.TempDir(),
		"PANDA_ADDR=" + s.appAddr,
		"PANDA_REDIS_URL=" + s.redis,
		"PANDA_PUBLIC_URL=http://" + s.appAddr,
		"PANDA_API_TOKEN=" + apiToken,
		"PANDA_WORK_DIR=" + s.workDir,
		"PANDA_LOG_LEVEL=debug",
		"PANDA_WORKER_METRICS_ADDR=127.0.0.1:0",
		"PANDA_BUILD_NETWORK=none", // RUN steps on BuildKit need it: dockerd here runs with --bridge=none
		"GITHUB_WEBHOOK_SECRET=" + webhookSecret,
		"GITHUB_APP_ID=" + fmt.Sprint(s.gh.AppID()),
		"GITHUB_APP_PRIVATE_KEY=" + string(s.gh.PrivateKeyPEM()),
		"GITHUB_URL=" + gitURL,
		"GITHUB_API_URL=" + s.gh.URL(),
		"AWS_ENDPOINT_URL=" + s.aws.URL,
		"AWS_REGION=" + s.aws.Region(),
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if dockerHost != "" {
		env = append(env, "DOCKER_HOST="+dockerHost)
	}
	return env
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
	files[".panda.yml"] = `environments:
  production:
    branch: main
    region: ` + s.aws.Region() + `
    state_machine_arn: ` + s.smARN + `
    cluster: prod
    service: web
    task_family: web
    container_port: 8080
`
	sha := s.repo.Commit("main", files, "change")
	s.gh.SetFile(repoName, sha, ".panda.yml", []byte(files[".panda.yml"]))
	return sha
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

// readSSE reads a deployment's event stream until it ends and returns the
// event names in order.
func (s *stack) readSSE(ctx context.Context, id string) []string {
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
	var names []string
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			names = append(names, name)
		}
	}
	return names
}

// waitEvent waits until an event of sha's deployment contains text. It reads
// the stream from Redis, as any app instance would.
func (s *stack) waitEvent(sha, text string, within time.Duration) {
	s.t.Helper()
	rdb, err := store.Open(context.Background(), s.redis)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rdb.Close()
	st := store.New(rdb)
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

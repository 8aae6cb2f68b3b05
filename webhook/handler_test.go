package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

const testSecret = "It's a Secret to Everybody"

func sign(body []byte) string {
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// patch decodes a fixture, applies set to it and encodes it again: for cases the
// real payloads do not cover (an App installation on a repository webhook body).
func patch(t testing.TB, name string, set func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, name), &m); err != nil {
		t.Fatal(err)
	}
	set(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func withInstallation(id float64) func(map[string]any) {
	return func(m map[string]any) { m["installation"] = map[string]any{"id": id} }
}

func withComment(body string, inst float64) func(map[string]any) {
	return func(m map[string]any) {
		m["comment"].(map[string]any)["body"] = body
		m["installation"] = map[string]any{"id": inst}
	}
}

type env struct {
	handler *Handler
	store   *store.Store
	insp    *asynq.Inspector
	logs    *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := testenv.Redis(t)
	rdb, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { rdb.Close() })
	logs := &bytes.Buffer{}
	st := store.New(rdb)
	return &env{
		handler: &Handler{Secret: []byte(testSecret), Queue: client, Store: st, Logger: slog.New(slog.NewJSONHandler(logs, nil))},
		store:   st,
		insp:    insp,
		logs:    logs,
	}
}

type delivery struct {
	event, id, signature string
	body                 []byte
}

func (e *env) post(t *testing.T, d delivery) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(d.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", d.event)
	req.Header.Set("X-GitHub-Delivery", d.id)
	req.Header.Set("X-GitHub-Hook-ID", "123")
	sig := d.signature
	if sig == "" {
		sig = sign(d.body)
	}
	if sig != "none" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// queued lists the types of every task waiting in the webhook queue.
func (e *env) queued(t *testing.T) []string {
	t.Helper()
	tasks, err := e.insp.ListPendingTasks(tasks.QueueWebhooks)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
	var types []string
	for _, ti := range tasks {
		types = append(types, ti.Type)
	}
	return types
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		event     string
		body      func(t *testing.T) []byte
		wantCode  int
		wantTask  string // "" = nothing queued
		wantInMsg string
	}{
		{name: "push-branch", event: "push", body: func(t *testing.T) []byte { return patch(t, "push.branch.json", withInstallation(42)) }, wantCode: 202, wantTask: tasks.TypePush},
		{name: "push-branch-created", event: "push", body: func(t *testing.T) []byte { return fixture(t, "push.branch-created.json") }, wantCode: 202, wantTask: tasks.TypePush},
		{name: "push-forced", event: "push", body: func(t *testing.T) []byte { return patch(t, "push.forced.json", withInstallation(42)) }, wantCode: 202, wantTask: tasks.TypePush},
		{name: "push-without-installation", event: "push", body: func(t *testing.T) []byte { return fixture(t, "push.branch.json") }, wantCode: 202, wantInMsg: "no installation"},
		{name: "push-tag", event: "push", body: func(t *testing.T) []byte { return patch(t, "push.tag-created.json", withInstallation(42)) }, wantCode: 202, wantInMsg: "not a branch push"},
		{name: "push-branch-deleted", event: "push", body: func(t *testing.T) []byte { return patch(t, "push.branch-deleted.json", withInstallation(42)) }, wantCode: 202, wantInMsg: "branch deleted"},
		{name: "comment-deploy-on-pr", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.created.pr.json", withComment("/deploy production\nthanks", 42))
		}, wantCode: 202, wantTask: tasks.TypeComment},
		{name: "comment-deploy-upper-case", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.created.pr.json", withComment("/DEPLOY", 42))
		}, wantCode: 202, wantTask: tasks.TypeComment},
		{name: "comment-deploy-on-issue", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.created.issue.json", withComment("/deploy", 42))
		}, wantCode: 202, wantTask: tasks.TypeComment},
		{name: "comment-not-a-command", event: "issue_comment", body: func(t *testing.T) []byte { return patch(t, "issue_comment.created.pr.json", withInstallation(42)) }, wantCode: 202, wantInMsg: "not a /deploy comment"},
		{name: "comment-deployment-word", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.created.pr.json", withComment("/deployment is broken", 42))
		}, wantCode: 202, wantInMsg: "not a /deploy comment"},
		{name: "comment-quoted", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.created.pr.json", withComment("> /deploy", 42))
		}, wantCode: 202, wantInMsg: "not a /deploy comment"},
		{name: "comment-indented-code-block", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.created.pr.json", withComment("    /deploy", 42))
		}, wantCode: 202, wantInMsg: "not a /deploy comment"},
		{name: "comment-tab-indented", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.created.pr.json", withComment("\t/deploy", 42))
		}, wantCode: 202, wantInMsg: "not a /deploy comment"},
		{name: "comment-after-blank-lines", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.created.pr.json", withComment("\n  \n  /deploy production", 42))
		}, wantCode: 202, wantTask: tasks.TypeComment},
		{name: "comment-by-bot", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.created.pr.json", func(m map[string]any) {
				withComment("/deploy", 42)(m)
				m["sender"].(map[string]any)["type"] = "Bot"
			})
		}, wantCode: 202, wantInMsg: "comment by a bot"},
		{name: "comment-edited", event: "issue_comment", body: func(t *testing.T) []byte {
			return patch(t, "issue_comment.edited.json", withComment("/deploy", 42))
		}, wantCode: 202, wantInMsg: "comment edited"},
		{name: "comment-deleted", event: "issue_comment", body: func(t *testing.T) []byte { return fixture(t, "issue_comment.deleted.json") }, wantCode: 202, wantInMsg: "comment deleted"},
		{name: "check-run-rerequested", event: "check_run", body: func(t *testing.T) []byte { return fixture(t, "check_run.rerequested.json") }, wantCode: 202, wantTask: tasks.TypeCheckRun},
		{name: "check-run-requested-action", event: "check_run", body: func(t *testing.T) []byte { return fixture(t, "check_run.requested_action.json") }, wantCode: 202, wantTask: tasks.TypeCheckRun},
		{name: "check-run-created", event: "check_run", body: func(t *testing.T) []byte { return patch(t, "check_run.created.json", withInstallation(42)) }, wantCode: 202, wantInMsg: "check_run created"},
		{name: "check-suite-rerequested", event: "check_suite", body: func(t *testing.T) []byte { return fixture(t, "check_suite.rerequested.json") }, wantCode: 202, wantTask: tasks.TypeCheckRun},
		{name: "installation-created", event: "installation", body: func(t *testing.T) []byte { return fixture(t, "installation.created.json") }, wantCode: 202, wantTask: tasks.TypeInstallation},
		{name: "installation-deleted", event: "installation", body: func(t *testing.T) []byte { return fixture(t, "installation.deleted.json") }, wantCode: 202, wantTask: tasks.TypeInstallation},
		{name: "installation-repositories", event: "installation_repositories", body: func(t *testing.T) []byte { return fixture(t, "installation_repositories.added.json") }, wantCode: 202, wantTask: tasks.TypeInstallation},
		{name: "ping", event: "ping", body: func(t *testing.T) []byte { return fixture(t, "ping.app.json") }, wantCode: 200, wantInMsg: "pong"},
		{name: "unknown-event", event: "pull_request", body: func(t *testing.T) []byte { return fixture(t, "pull_request.opened.json") }, wantCode: 202, wantInMsg: "not handled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rec := e.post(t, delivery{event: tt.event, id: "d-" + tt.name, body: tt.body(t)})
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d (%s), want %d", rec.Code, rec.Body, tt.wantCode)
			}
			if tt.wantInMsg != "" && !strings.Contains(rec.Body.String(), tt.wantInMsg) {
				t.Errorf("answer %s does not say %q", rec.Body, tt.wantInMsg)
			}
			got := e.queued(t)
			switch {
			case tt.wantTask == "" && len(got) != 0:
				t.Errorf("queued %v, want nothing", got)
			case tt.wantTask != "" && (len(got) != 1 || got[0] != tt.wantTask):
				t.Errorf("queued %v, want exactly one %s", got, tt.wantTask)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	push := func(t *testing.T) []byte { return patch(t, "push.branch.json", withInstallation(42)) }
	tests := []struct {
		name      string
		d         func(t *testing.T) delivery
		wantCode  int
		forbidLog string
	}{
		{name: "no-signature", d: func(t *testing.T) delivery { return delivery{event: "push", id: "a", body: push(t), signature: "none"} }, wantCode: 401},
		{name: "wrong-signature", d: func(t *testing.T) delivery {
			return delivery{event: "push", id: "a", body: push(t), signature: "sha256=" + strings.Repeat("0", 64)}
		}, wantCode: 401},
		{name: "signature-of-other-body", d: func(t *testing.T) delivery {
			return delivery{event: "push", id: "a", body: push(t), signature: sign([]byte("{}"))}
		}, wantCode: 401},
		{name: "sha1-signature-only", d: func(t *testing.T) delivery {
			return delivery{event: "push", id: "a", body: push(t), signature: "sha1=0000000000000000000000000000000000000000"}
		}, wantCode: 401},
		{name: "malformed-json", d: func(t *testing.T) delivery {
			return delivery{event: "push", id: "a", body: []byte(`{"ref": "refs/heads/main",`)}
		}, wantCode: 400},
		{name: "wrong-json-shape", d: func(t *testing.T) delivery { return delivery{event: "push", id: "a", body: []byte(`{"ref": 12}`)} }, wantCode: 400},
		{name: "malformed-json-unknown-event", d: func(t *testing.T) delivery { return delivery{event: "fork", id: "a", body: []byte(`nope`)} }, wantCode: 400},
		{name: "missing-delivery-id", d: func(t *testing.T) delivery { return delivery{event: "push", id: "", body: push(t)} }, wantCode: 400},
		{name: "hostile-delivery-id", d: func(t *testing.T) delivery { return delivery{event: "push", id: "x:*\r\nSET a b", body: push(t)} }, wantCode: 400},
		{name: "too-large", d: func(t *testing.T) delivery {
			big := append([]byte(`{"zen":"`), bytes.Repeat([]byte("a"), MaxBodyBytes)...)
			return delivery{event: "ping", id: "a", body: append(big, `"}`...)}
		}, wantCode: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			d := tt.d(t)
			rec := e.post(t, d)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d (%s), want %d", rec.Code, rec.Body, tt.wantCode)
			}
			if got := e.queued(t); len(got) != 0 {
				t.Errorf("queued %v for bad input", got)
			}
			if strings.Contains(e.logs.String(), testSecret) || strings.Contains(e.logs.String(), sign(d.body)) {
				t.Error("the secret or the expected signature reached the log")
			}
			if len(d.body) < 1<<20 && bytes.Contains(e.logs.Bytes(), d.body) {
				t.Error("the body reached the log")
			}
		})
	}
}

func TestRedeliveryStartsNothingNew(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := delivery{event: "push", id: "72d3162e-cc78-11e3-81ab-4c9367dc0958", body: patch(t, "push.branch.json", withInstallation(42))}
	if rec := e.post(t, d); rec.Code != 202 {
		t.Fatalf("first delivery: %d %s", rec.Code, rec.Body)
	}
	for range 3 {
		if rec := e.post(t, d); rec.Code != 200 || !strings.Contains(rec.Body.String(), "already taken") {
			t.Fatalf("redelivery: %d %s", rec.Code, rec.Body)
		}
	}
	if got := e.queued(t); len(got) != 1 {
		t.Fatalf("queued %v, want one task", got)
	}
}

func TestDuplicateTaskWithoutMemoryIsStillOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := delivery{event: "push", id: "dup", body: patch(t, "push.branch.json", withInstallation(42))}
	e.post(t, d)
	// The delivery memory was lost (say, remembering failed): the TaskID still holds.
	e.store.Redis().Del(context.Background(), "panda:delivery:123:dup")
	if rec := e.post(t, d); rec.Code != 200 {
		t.Fatalf("redelivery: %d %s", rec.Code, rec.Body)
	}
	if got := e.queued(t); len(got) != 1 {
		t.Fatalf("queued %v, want one task", got)
	}
}

func TestUnservedRepositoryIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.PutInstallation(ctx, store.Installation{ID: 42, Account: "Codertocat"}, []string{"Codertocat/Other"}); err != nil {
		t.Fatal(err)
	}
	rec := e.post(t, delivery{event: "push", id: "u1", body: patch(t, "push.branch.json", withInstallation(42))})
	if rec.Code != 202 || !strings.Contains(rec.Body.String(), "not served") {
		t.Fatalf("unserved repo: %d %s", rec.Code, rec.Body)
	}
	if got := e.queued(t); len(got) != 0 {
		t.Fatalf("queued %v for an unserved repository", got)
	}
}

func TestRedisDownAnswers503AndLosesNothing(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	rdb, err := store.Open(context.Background(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	st := store.New(rdb)
	h := &Handler{Secret: []byte(testSecret), Queue: asynq.NewClientFromRedisClient(rdb), Store: st, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	e := &env{handler: h, store: st, insp: asynq.NewInspectorFromRedisClient(rdb)}
	d := delivery{event: "push", id: "outage", body: patch(t, "push.branch.json", withInstallation(42))}

	srv.Stop()
	if rec := e.post(t, d); rec.Code != 503 {
		t.Fatalf("with Redis down: %d %s, want 503", rec.Code, rec.Body)
	}
	srv.Start()
	if rec := e.post(t, d); rec.Code != 202 {
		t.Fatalf("redelivery after recovery: %d %s, want 202", rec.Code, rec.Body)
	}
	if got := e.queued(t); len(got) != 1 {
		t.Fatalf("queued %v after recovery, want one task", got)
	}
}

// blockingQueue holds every enqueue until release is closed.
type blockingQueue struct {
	entered chan struct{}
	release chan struct{}
}

func (q *blockingQueue) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	q.entered <- struct{}{}
	<-q.release
	return &asynq.TaskInfo{}, nil
}

func TestBurstBeyondMaxInFlightAnswers503AtOnce(t *testing.T) {
	t.Parallel()
	q := &blockingQueue{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := &Handler{Secret: []byte(testSecret), Queue: q, Store: nopDeliveries{}, MaxInFlight: 1,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	e := &env{handler: h}
	body := patch(t, "push.branch.json", withInstallation(42))
	done := make(chan int)
	go func() { done <- e.post(t, delivery{event: "push", id: "first", body: body}).Code }()
	<-q.entered // the first delivery is being enqueued
	rec := e.post(t, delivery{event: "push", id: "second", body: body})
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("delivery beyond the limit: %d %s, want 503 with Retry-After", rec.Code, rec.Body)
	}
	close(q.release)
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("first delivery answered %d", code)
	}
	if rec := e.post(t, delivery{event: "push", id: "third", body: body}); rec.Code == http.StatusServiceUnavailable {
		t.Fatal("the limit did not free up after the burst")
	}
}

package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// FuzzRoute feeds arbitrary events and payloads to the router: it must never
// panic, and what it queues must carry the delivery's TaskID.
func FuzzRoute(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		event, _, _ := bytes.Cut([]byte(filepath.Base(name)), []byte("."))
		f.Add(string(event), data)
	}
	f.Add("push", []byte(`{"ref":"refs/heads/--upload-pack=touch /tmp/pwned","after":"x","head_commit":{},"installation":{"id":1}}`))
	f.Add("issue_comment", []byte(`{"action":"created","comment":{"body":"/deploy\u0000prod"},"installation":{"id":1}}`))
	f.Fuzz(func(t *testing.T, event string, payload []byte) {
		d := tasks.Delivery{HookID: "1", ID: "fuzz"}
		dec, err := Route(event, payload, d)
		if err != nil {
			return
		}
		if dec.Task != nil {
			if dec.Task.ResultWriter() != nil {
				t.Fatal("unexpected result writer")
			}
		}
	})
}

// nopQueue accepts every task; nopDeliveries serves every repository.
type nopQueue struct{ n int }

func (q *nopQueue) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	q.n++
	return &asynq.TaskInfo{}, nil
}

type nopDeliveries struct{}

func (nopDeliveries) ServesRepo(context.Context, int64, store.RepoRef) (bool, bool, error) {
	return true, false, nil
}

// FuzzSignature checks that no body is taken without the right signature:
// whatever the body and the signature header, a delivery is queued only when
// the header is the body's HMAC under the secret.
func FuzzSignature(f *testing.F) {
	body := fixture(f, "push.branch-created.json")
	f.Add(body, sign(body))
	f.Add(body, "sha256=")
	f.Add(body, "sha256="+string(bytes.Repeat([]byte("0"), 64)))
	f.Add([]byte("{}"), sign(body))
	f.Add([]byte(""), "")
	f.Add(body, "sha1=abc")
	f.Fuzz(func(t *testing.T, body []byte, signature string) {
		q := &nopQueue{}
		h := &Handler{Secret: []byte(testSecret), Queue: q, Store: nopDeliveries{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "d1")
		req.Header.Set("X-Hub-Signature-256", signature)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		valid := signature == sign(body)
		if !valid && rec.Code != http.StatusUnauthorized {
			t.Fatalf("invalid signature %q answered %d", signature, rec.Code)
		}
		if !valid && q.n > 0 {
			t.Fatal("a delivery with an invalid signature was queued")
		}
	})
}

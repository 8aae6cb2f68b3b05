package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/api"
	"github.com/pandadeploy/panda/webhook"
)

// TestWebhookAnswersMatchOpenAPI sends real recorded deliveries through the
// real intake (queueing into the test Redis) and checks each answer,
// the 202 of a queued delivery included, against openapi.json (e.do does).
func TestWebhookAnswersMatchOpenAPI(t *testing.T) {
	t.Parallel()
	secret := []byte("webhook-secret-for-tests")
	e := newEnv(t, func(o *api.Options) {
		queue := asynq.NewClientFromRedisClient(o.Store.Redis())
		o.Webhook = &webhook.Handler{Secret: secret, Queue: queue, Store: o.Store, Logger: o.Logger}
	})
	sign := func(body []byte) string {
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	read := func(name string) []byte {
		b, err := os.ReadFile("../webhook/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	push, ping := read("push.branch-created.json"), read("ping.app.json")
	tests := []struct {
		name, event, delivery, sig string
		body                       []byte
		want                       int
	}{
		{name: "ping", event: "ping", delivery: "d-ping", body: ping, sig: sign(ping), want: http.StatusOK},
		{name: "push-queued", event: "push", delivery: "d-push", body: push, sig: sign(push), want: http.StatusAccepted},
		{name: "push-again", event: "push", delivery: "d-push", body: push, sig: sign(push), want: http.StatusOK},
		{name: "bad-signature", event: "push", delivery: "d-bad", body: push, sig: sign([]byte("x")), want: http.StatusUnauthorized},
		{name: "no-event", event: "", delivery: "d-none", body: push, sig: sign(push), want: http.StatusBadRequest},
	}
	for _, tt := range tests { // in order: the second push is a redelivery
		a := e.doWith("POST", "/webhook", string(tt.body), http.Header{"X-GitHub-Event": {tt.event}, "X-GitHub-Delivery": {tt.delivery},
			"X-GitHub-Hook-ID": {"1"}, "X-Hub-Signature-256": {tt.sig}})
		if a.Status != tt.want {
			t.Errorf("%s: %d, want %d: %s", tt.name, a.Status, tt.want, a.Raw)
		}
	}
	if a := newEnv(t).do("POST", "/webhook", `{}`, ""); a.Status != http.StatusServiceUnavailable {
		t.Errorf("webhook without an intake: %d %s", a.Status, a.Raw)
	}
}

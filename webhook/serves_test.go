package webhook

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/store"
)

// TestServesForReusesAnAnswer: with ServesFor, the store's answer for an
// installation and repository holds for the deliveries that follow; without,
// each delivery asks again.
func TestServesForReusesAnAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.handler.ServesFor = time.Hour
	if err := e.store.PutInstallation(ctx, store.Installation{ID: 42, Account: "Codertocat"}, []string{"Codertocat/Other"}); err != nil {
		t.Fatal(err)
	}
	body := patch(t, "push.branch.json", withInstallation(42))
	if rec := e.post(t, delivery{event: "push", id: "c1", body: body}); !strings.Contains(rec.Body.String(), "not served") {
		t.Fatalf("first delivery: %d %s, want not served", rec.Code, rec.Body)
	}
	if err := e.store.PutInstallation(ctx, store.Installation{ID: 42, Account: "Codertocat", AllRepos: true}, nil); err != nil {
		t.Fatal(err)
	}
	if rec := e.post(t, delivery{event: "push", id: "c2", body: body}); !strings.Contains(rec.Body.String(), "not served") {
		t.Fatalf("delivery within ServesFor: %d %s, want the kept answer (not served)", rec.Code, rec.Body)
	}
	e.handler.ServesFor = 0
	if rec := e.post(t, delivery{event: "push", id: "c3", body: body}); rec.Code != 202 || strings.Contains(rec.Body.String(), "not served") {
		t.Fatalf("delivery without ServesFor: %d %s, want queued", rec.Code, rec.Body)
	}
	if got := e.queued(t); len(got) != 1 {
		t.Fatalf("queued %v, want one task", got)
	}
}

// TestServesCacheKeepsNoFailure: a failed look-up is asked again next time,
// and an expired answer too.
func TestServesCacheKeepsNoFailure(t *testing.T) {
	t.Parallel()
	var c servesCache
	calls, fail := 0, true
	lookup := func(context.Context, int64, store.RepoRef) (bool, bool, error) {
		calls++
		if fail {
			return false, false, errors.New("redis down")
		}
		return true, true, nil
	}
	ctx := context.Background()
	if _, err := c.serves(ctx, time.Hour, 1, store.RepoRef{ID: 9, FullName: "o/r"}, lookup); err == nil {
		t.Fatal("the failure was not reported")
	}
	fail = false
	for range 3 {
		if ok, err := c.serves(ctx, time.Hour, 1, store.RepoRef{ID: 9, FullName: "o/r"}, lookup); !ok || err != nil {
			t.Fatalf("serves = %v, %v", ok, err)
		}
	}
	if calls != 2 {
		t.Fatalf("%d look-ups, want 2 (the failure, then one kept answer)", calls)
	}
	if _, err := c.serves(ctx, time.Nanosecond, 2, store.RepoRef{ID: 9, FullName: "o/r"}, lookup); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if _, err := c.serves(ctx, time.Nanosecond, 2, store.RepoRef{ID: 9, FullName: "o/r"}, lookup); err != nil {
		t.Fatal(err)
	}
	if calls != 4 {
		t.Fatalf("%d look-ups, want 4: an expired answer is asked again", calls)
	}
}

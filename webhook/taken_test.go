package webhook

import (
	"context"
	"testing"
)

// TestTakenDeliveryIsSeen: the redelivery sweeper must not ask again for a
// delivery the intake queued, nor count one it ignored as taken.
func TestTakenDeliveryIsSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	queued := delivery{event: "push", id: "taken", body: patch(t, "push.branch.json", withInstallation(42))}
	ignored := delivery{event: "push", id: "ignored", body: fixture(t, "push.tag-created.json")}
	if rec := e.post(t, queued); rec.Code != 202 {
		t.Fatalf("push: %d %s", rec.Code, rec.Body)
	}
	if rec := e.post(t, ignored); rec.Code != 202 {
		t.Fatalf("tag push: %d %s", rec.Code, rec.Body)
	}
	if seen, err := e.store.DeliverySeen(ctx, "123", queued.id); err != nil || !seen {
		t.Fatalf("queued delivery: seen=%v err=%v, want seen", seen, err)
	}
	if seen, err := e.store.DeliverySeen(ctx, "123", ignored.id); err != nil || seen {
		t.Fatalf("ignored delivery: seen=%v err=%v, want not seen", seen, err)
	}
}

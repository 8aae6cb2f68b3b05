package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/tasks"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	rdb, err := Open(context.Background(), testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return New(rdb)
}

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !ValidID(id) {
			t.Fatalf("NewID() = %q, not a valid id", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "dep_", "dep_abc", "dep_../../x", "dep_0123456789a", "DEP_0123456789", "dep_01234 6789"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestCreateIsIdempotentByClaim(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	first, created, err := s.Create(ctx, "delivery-1:production", &Deployment{ID: NewID(), Status: StatusQueued, Repo: "o/r", SHA: "abc"})
	if err != nil || !created {
		t.Fatalf("first Create: created=%v err=%v", created, err)
	}
	again, created, err := s.Create(ctx, "delivery-1:production", &Deployment{ID: NewID(), Status: StatusQueued, Repo: "o/r", SHA: "abc"})
	if err != nil || created {
		t.Fatalf("second Create: created=%v err=%v", created, err)
	}
	if again.ID != first.ID {
		t.Fatalf("second Create made %s, want the first %s", again.ID, first.ID)
	}
	list, err := s.List(ctx, Filter{Repo: "o/r"})
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %d deployments, err %v; want 1", len(list), err)
	}
}

func TestCreateFinishesAClaimWithoutRecord(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	// An earlier attempt claimed an id and died before writing the record.
	if err := s.rdb.Set(ctx, claimKey("c"), "dep_AAAAAAAAAA", 0).Err(); err != nil {
		t.Fatal(err)
	}
	d, created, err := s.Create(ctx, "c", &Deployment{ID: NewID(), Status: StatusQueued, Repo: "o/r"})
	if err != nil || !created || d.ID != "dep_AAAAAAAAAA" {
		t.Fatalf("Create = %+v created=%v err=%v; want the claimed id", d, created, err)
	}
}

func TestFinalStatusIsWrittenOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	d, _, err := s.Create(ctx, "c", &Deployment{ID: NewID(), Status: StatusRunning, Repo: "o/r"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for _, st := range []Status{StatusSucceeded, StatusFailed, StatusCanceled, StatusTimeout, StatusSucceeded, StatusFailed} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, d.ID, func(d *Deployment) error { d.Status = st; return nil })
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrFinal) {
				t.Errorf("Update: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d updates set a final status, want exactly 1", wins)
	}
	ttl := s.rdb.TTL(ctx, recordKey(d.ID)).Val()
	if ttl <= 0 {
		t.Errorf("finished record has no expiry (ttl %v)", ttl)
	}
}

// TestOutboxDrainsAFinalRecord: the outbox is written with the final status
// and emptied item by item afterwards, while the status stays final and the
// record keeps its expiry.
func TestOutboxDrainsAFinalRecord(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	d, _, err := s.Create(ctx, "c", &Deployment{ID: NewID(), Status: StatusRunning, Repo: "o/r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, d.ID, func(d *Deployment) error {
		d.Status, d.Outbox = StatusFailed, []string{ReportChecks, ReportGitHubDeployment}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Reported(ctx, d.ID, ReportChecks)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusFailed || len(got.Outbox) != 1 || got.Outbox[0] != ReportGitHubDeployment {
		t.Fatalf("after one report: status %s, outbox %v", got.Status, got.Outbox)
	}
	if _, err := s.Update(ctx, d.ID, func(d *Deployment) error { d.Status = StatusSucceeded; return nil }); !errors.Is(err, ErrFinal) {
		t.Fatalf("Update of a final record with an outbox: %v, want ErrFinal", err)
	}
	if got, err = s.Reported(ctx, d.ID, ReportGitHubDeployment); err != nil || got.Outbox != nil {
		t.Fatalf("after the last report: outbox %v, err %v", got.Outbox, err)
	}
	if ttl := s.rdb.TTL(ctx, recordKey(d.ID)).Val(); ttl <= 0 {
		t.Errorf("reporting removed the final record's expiry (ttl %v)", ttl)
	}
}

func TestUpdateUnknown(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if _, err := s.Update(context.Background(), "dep_0000000000", func(*Deployment) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update of unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(context.Background(), "../../etc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a malformed id: %v, want ErrNotFound", err)
	}
}

func TestEventsResumeAfterID(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	id := NewID()
	var ids []string
	for i, msg := range []string{"cloning", "building", "done"} {
		typ := EventStage
		if i == 2 {
			typ = EventDone
		}
		eid, err := s.Append(ctx, id, Event{Type: typ, Stage: "clone", Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, eid)
	}
	all, err := s.Events(ctx, id, "", 100, 0)
	if err != nil || len(all) != 3 || all[0].Message != "cloning" || !all[2].Final() {
		t.Fatalf("Events from start = %+v, err %v", all, err)
	}
	rest, err := s.Events(ctx, id, ids[0], 100, 0)
	if err != nil || len(rest) != 2 || rest[0].ID != ids[1] {
		t.Fatalf("Events after first = %+v, err %v", rest, err)
	}
	// Blocking read returns as soon as an event arrives.
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.Append(ctx, id, Event{Type: EventStage, Message: "late"})
	}()
	live, err := s.Events(ctx, id, ids[2], 100, 5*time.Second)
	if err != nil || len(live) != 1 || live[0].Message != "late" {
		t.Fatalf("blocking Events = %+v, err %v", live, err)
	}
	none, err := s.Events(ctx, id, "$", 10, 20*time.Millisecond)
	if err != nil || len(none) != 0 {
		t.Fatalf("timed-out read = %+v, %v", none, err)
	}
}

func TestDeliveries(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if seen, err := s.DeliverySeen(ctx, "1", "d1"); err != nil || seen {
		t.Fatalf("fresh delivery seen=%v err=%v", seen, err)
	}
	if err := s.RememberDelivery(ctx, "1", "d1"); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.DeliverySeen(ctx, "1", "d1"); !seen {
		t.Fatal("remembered delivery not seen")
	}
	if seen, _ := s.DeliverySeen(ctx, "2", "d1"); seen {
		t.Fatal("delivery of another hook counted as seen")
	}
	if ttl := s.rdb.TTL(ctx, deliveryKey("1", "d1")).Val(); ttl < 3*24*time.Hour {
		t.Fatalf("delivery remembered for %v, want at least 3 days", ttl)
	}
	// A delivery that became a task is seen without being remembered.
	d := tasks.Delivery{HookID: "7", ID: "d2"}
	task, err := tasks.NewPushTask(tasks.PushPayload{Delivery: d, InstallationID: 1, Repo: "o/r", Branch: "main", SHA: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewClientFromRedisClient(s.rdb).EnqueueContext(ctx, task); err != nil {
		t.Fatal(err)
	}
	if seen, err := s.DeliverySeen(ctx, d.HookID, d.ID); err != nil || !seen {
		t.Fatalf("queued delivery seen=%v err=%v", seen, err)
	}
	if seen, _ := s.DeliverySeen(ctx, "8", d.ID); seen {
		t.Fatal("the task of another hook's delivery counted")
	}
}

func TestInstallations(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if serves, known, err := s.Serves(ctx, 9, "o/a"); err != nil || !serves || known {
		t.Fatalf("unknown installation: serves=%v known=%v err=%v", serves, known, err)
	}
	if err := s.PutInstallation(ctx, Installation{ID: 9, Account: "o"}, []string{"o/a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ChangeRepos(ctx, 9, []string{"o/b"}, []string{"o/a"}); err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]bool{"o/a": false, "o/b": true, "x/y": false} {
		if serves, known, _ := s.Serves(ctx, 9, repo); serves != want || !known {
			t.Errorf("Serves(%s) = %v (known %v), want %v", repo, serves, known, want)
		}
	}
	if err := s.PutInstallation(ctx, Installation{ID: 9, Account: "o", Suspended: true}, nil); err != nil {
		t.Fatal(err)
	}
	if serves, _, _ := s.Serves(ctx, 9, "o/b"); serves {
		t.Error("suspended installation still served")
	}
	if err := s.DeleteInstallation(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Installation(ctx, 9); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted installation: %v", err)
	}
}

func TestLock(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	a, ok, err := s.TryLock(ctx, "o/r:production", "", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first TryLock ok=%v err=%v", ok, err)
	}
	if _, ok, _ := s.TryLock(ctx, "o/r:production", "", time.Minute); ok {
		t.Fatal("second holder took a held lock")
	}
	if _, ok, _ := s.TryLock(ctx, "o/r:production", a.Token, time.Minute); !ok {
		t.Fatal("holder could not extend its own lock")
	}
	if err := s.Unlock(ctx, Lock{Key: a.Key, Token: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.LockHolder(ctx, "o/r:production"); h != a.Token {
		t.Fatal("a stranger's unlock released the lock")
	}
	if err := s.Unlock(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.TryLock(ctx, "o/r:production", "", time.Minute); !ok {
		t.Fatal("lock not free after unlock")
	}
}

func TestCheckEvictionPolicy(t *testing.T) {
	t.Parallel()
	good := newStore(t)
	if err := CheckEvictionPolicy(context.Background(), good.rdb); err != nil {
		t.Fatalf("noeviction refused: %v", err)
	}
	srv := testenv.StartRedis(t, testenv.WithMaxmemoryPolicy("allkeys-lru"))
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	err := CheckEvictionPolicy(context.Background(), rdb)
	if err == nil || !strings.Contains(err.Error(), "noeviction") || !strings.Contains(err.Error(), "allkeys-lru") {
		t.Fatalf("allkeys-lru: err = %v, want a message naming the fix", err)
	}
}

func TestOpenChoosesTheClientKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want string
	}{
		{url: "redis://127.0.0.1:6379/0", want: "*redis.Client"},
		{url: "unix:///run/redis.sock", want: "*redis.Client"},
		{url: "redis://:pw@10.0.0.1:26379/0?master_name=panda&addr=10.0.0.2:26379", want: "*redis.Client"},
		{url: "redis-cluster://10.0.0.1:7000?addr=10.0.0.2:7000", want: "*redis.ClusterClient"},
		{url: "rediss-cluster://10.0.0.1:7000", want: "*redis.ClusterClient"},
	}
	for _, tt := range tests {
		rdb, err := newClient(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if got := fmt.Sprintf("%T", rdb); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.url, got, tt.want)
		}
		_ = rdb.Close()
	}
	if _, err := newClient("redis://:hunter2@host:1/0?bogus=1"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad URL: %v", err)
	}
}

func TestLineOrdersTiesByID(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	at := time.Now()
	a := &Deployment{ID: "dep_AAAAAAAAAA", Repo: "o/r", Environment: "prod", CreatedAt: at}
	b := &Deployment{ID: "dep_BBBBBBBBBB", Repo: "o/r", Environment: "prod", CreatedAt: at}
	for _, d := range []*Deployment{b, a} {
		if err := s.Ready(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if ahead, newer, err := s.Line(ctx, a); err != nil || ahead != 0 || newer != b.ID {
		t.Errorf("Line(a) = %d, %q, %v; want 0, %s", ahead, newer, err, b.ID)
	}
	if ahead, newer, err := s.Line(ctx, b); err != nil || ahead != 1 || newer != "" {
		t.Errorf("Line(b) = %d, %q, %v; want 1, none", ahead, newer, err)
	}
}

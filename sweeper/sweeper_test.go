package sweeper_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/githubapp"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/sweeper"
)

const hookID = "42"

// env is one test's GitHub API test server, private Redis and the real
// go-github client authenticated as the App.
type env struct {
	gh    *githubtest.Server
	apps  *github.AppsService
	rdb   redis.UniversalClient
	store *store.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	gh := githubtest.NewServer(t)
	f, err := githubapp.New(githubapp.Config{
		AppID: gh.AppID(), PrivateKey: gh.PrivateKeyPEM(), APIURL: gh.URL(),
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Retry:      githubapp.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxAttempts: 2},
	})
	if err != nil {
		t.Fatalf("githubapp.New: %v", err)
	}
	rdb, err := store.Open(context.Background(), testenv.Redis(t))
	if err != nil {
		t.Fatalf("open redis: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return &env{gh: gh, apps: f.AppClient().Apps, rdb: rdb, store: store.New(rdb)}
}

func (e *env) sweeper(hooks sweeper.Hooks) *sweeper.Sweeper {
	if hooks == nil {
		hooks = e.apps
	}
	return &sweeper.Sweeper{
		Hooks: hooks, Deliveries: e.store, Redis: e.rdb, HookID: hookID,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// ago is a delivery time d before now, on GitHub's one-second resolution.
func ago(d time.Duration) time.Time { return time.Now().UTC().Add(-d).Truncate(time.Second) }

func failed(at time.Time, code int) githubtest.HookDelivery {
	status := "Invalid HTTP Response: " + http.StatusText(code)
	if code == 0 {
		status = "failed to connect to host"
	}
	return githubtest.HookDelivery{DeliveredAt: at, Status: status, StatusCode: code, Event: "push"}
}

func ok(at time.Time) githubtest.HookDelivery {
	return githubtest.HookDelivery{DeliveredAt: at, Event: "push"}
}

// recovered adds a successful delivery of another GUID after every other: the
// proof that Panda takes deliveries again.
func (e *env) recovered() { e.gh.AddHookDelivery(ok(ago(0))) }

func sortedIDs(ids []int64) []int64 { return slices.Sorted(slices.Values(ids)) }

func TestSweepChoosesWhatToRedeliver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// Out of the window: never looked at. (GitHub lists by id, newest first.)
	e.gh.AddHookDelivery(failed(ago(25*time.Hour), http.StatusServiceUnavailable))
	var want []int64
	// Asked for: the app answered 503 (Redis down), or GitHub could not connect.
	want = append(want, e.gh.AddHookDelivery(failed(ago(time.Hour), http.StatusServiceUnavailable)))
	want = append(want, e.gh.AddHookDelivery(failed(ago(50*time.Minute), 0)))
	// A redelivery that failed too: its latest attempt is what is asked for.
	first := failed(ago(40*time.Minute), http.StatusBadGateway)
	first.GUID = "11111111-2222-3333-4444-555555555555"
	e.gh.AddHookDelivery(first)
	again := first
	again.DeliveredAt, again.Redelivery = ago(39*time.Minute), true
	want = append(want, e.gh.AddHookDelivery(again))

	// Not asked for: delivered; failed but remembered by the handler; failed
	// then redelivered successfully; refused on purpose (4xx); out of window.
	e.gh.AddHookDelivery(ok(ago(30 * time.Minute)))
	remembered := failed(ago(20*time.Minute), http.StatusServiceUnavailable)
	remembered.GUID = "aaaaaaaa-0000-0000-0000-000000000001"
	e.gh.AddHookDelivery(remembered)
	if err := e.store.RememberDelivery(ctx, hookID, remembered.GUID); err != nil {
		t.Fatal(err)
	}
	fixed := failed(ago(15*time.Minute), http.StatusServiceUnavailable)
	fixed.GUID = "aaaaaaaa-0000-0000-0000-000000000002"
	e.gh.AddHookDelivery(fixed)
	fixed.Status, fixed.StatusCode, fixed.Redelivery, fixed.DeliveredAt = "OK", 200, true, ago(14*time.Minute)
	e.gh.AddHookDelivery(fixed)
	e.gh.AddHookDelivery(failed(ago(10*time.Minute), http.StatusUnauthorized))
	e.recovered()

	res, err := e.sweeper(nil).Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if got := e.gh.Redeliveries(); !slices.Equal(got, want) {
		t.Fatalf("redeliveries = %v, want %v (oldest first)", got, want)
	}
	wantRes := sweeper.Result{Listed: 10, Failed: 4, Taken: 1, Redelivered: 3}
	if res != wantRes {
		t.Errorf("result = %+v, want %+v", res, wantRes)
	}

	// GitHub now lists the successful redeliveries: nothing new to ask.
	res, err = e.sweeper(nil).Sweep(ctx)
	if err != nil || res.Redelivered != 0 || len(e.gh.Redeliveries()) != 3 {
		t.Fatalf("second sweep: result %+v, err %v, redeliveries %v", res, err, e.gh.Redeliveries())
	}
}

// lagging hides redeliveries from the listing, as GitHub does until the new
// attempt has been made: only the Redis claim keeps a second ask away then.
type lagging struct{ *github.AppsService }

func (l lagging) ListHookDeliveries(ctx context.Context, opts *github.ListCursorOptions) ([]*github.HookDelivery, *github.Response, error) {
	list, resp, err := l.AppsService.ListHookDeliveries(ctx, opts)
	return slices.DeleteFunc(list, func(d *github.HookDelivery) bool { return d.GetRedelivery() }), resp, err
}

func TestSweepAsksOncePerGUID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []int64
	for i := range 20 {
		want = append(want, e.gh.AddHookDelivery(failed(ago(time.Duration(30-i)*time.Minute), 0)))
	}
	e.recovered()
	hooks := lagging{e.apps}

	t.Run("second_sweep", func(t *testing.T) {
		for sweep := range 2 {
			if _, err := e.sweeper(hooks).Sweep(context.Background()); err != nil {
				t.Fatalf("sweep %d: %v", sweep, err)
			}
		}
		if got := sortedIDs(e.gh.Redeliveries()); !slices.Equal(got, want) {
			t.Fatalf("redeliveries = %v, want each of %v once", got, want)
		}
	})

	t.Run("concurrent_sweepers", func(t *testing.T) {
		e := newEnv(t)
		var want []int64
		for i := range 20 {
			want = append(want, e.gh.AddHookDelivery(failed(ago(time.Duration(30-i)*time.Minute), 503)))
		}
		e.recovered()
		var wg sync.WaitGroup
		var asked atomic.Int64
		for range 3 {
			wg.Go(func() {
				res, err := e.sweeper(lagging{e.apps}).Sweep(context.Background())
				if err != nil {
					t.Errorf("Sweep: %v", err)
				}
				asked.Add(int64(res.Redelivered))
			})
		}
		wg.Wait()
		if got := sortedIDs(e.gh.Redeliveries()); !slices.Equal(got, want) {
			t.Fatalf("redeliveries = %v, want each of %v once", got, want)
		}
		if asked.Load() != 20 {
			t.Errorf("sweepers counted %d redeliveries, want 20", asked.Load())
		}
	})
}

func TestSweepWaitsForRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.gh.AddHookDelivery(ok(ago(time.Hour)))
	id := e.gh.AddHookDelivery(failed(ago(time.Minute), 503))
	s := e.sweeper(nil)
	res, err := s.Sweep(context.Background())
	if err != nil || res.Waiting != 1 || len(e.gh.Redeliveries()) != 0 {
		t.Fatalf("during the outage: result %+v, err %v, redeliveries %v; want one waiting, none asked", res, err, e.gh.Redeliveries())
	}
	e.recovered()
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.gh.Redeliveries(); !slices.Equal(got, []int64{id}) {
		t.Fatalf("after recovery: redeliveries = %v, want [%d]", got, id)
	}
}

func TestSweepPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failed   int
		perPage  int
		maxPages int
		want     int
	}{
		{name: "all_pages", failed: 230, perPage: 100, want: 230},
		{name: "bounded_by_max_pages", failed: 150, perPage: 50, maxPages: 2, want: 99}, // the newest page holds the recovery
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var ids []int64
			for i := range tt.failed {
				ids = append(ids, e.gh.AddHookDelivery(failed(ago(time.Duration(tt.failed-i)*time.Second+time.Minute), 503)))
			}
			e.recovered()
			s := e.sweeper(nil)
			s.PerPage, s.MaxPages = tt.perPage, tt.maxPages
			res, err := s.Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := sortedIDs(e.gh.Redeliveries()), ids[len(ids)-tt.want:]; !slices.Equal(got, want) || res.Redelivered != tt.want {
				t.Fatalf("redelivered %d (%d counted), want the newest %d", len(got), res.Redelivered, tt.want)
			}
			lists := 0
			for _, r := range e.gh.Requests() {
				if r.Method == http.MethodGet && r.Path == "/app/hook/deliveries" {
					lists++
				}
			}
			if wantLists := (tt.want + 1 + tt.perPage - 1) / tt.perPage; lists != wantLists {
				t.Errorf("listed %d pages, want %d", lists, wantLists)
			}
		})
	}
}

// headers serves GetHookDelivery with the given request headers and counts
// the calls; everything else goes to the real client.
type headers struct {
	*github.AppsService
	headers map[string]string
	calls   *atomic.Int32
}

func (h headers) GetHookDelivery(_ context.Context, id int64) (*github.HookDelivery, *github.Response, error) {
	h.calls.Add(1)
	return &github.HookDelivery{ID: &id, Request: &github.HookRequest{Headers: h.headers}}, nil, nil
}

func TestSweepLearnsHookID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers map[string]string
		// rememberedUnder is the hook id the handler remembered a delivery under.
		rememberedUnder string
	}{
		{name: "from_header", headers: map[string]string{"X-GitHub-Hook-ID": "987", "X-GitHub-Event": "push"}, rememberedUnder: "987"},
		{name: "lower_case_header", headers: map[string]string{"x-github-hook-id": "987"}, rememberedUnder: "987"},
		{name: "no_header_is_zero", headers: map[string]string{"X-GitHub-Event": "push"}, rememberedUnder: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			taken := failed(ago(time.Hour), 0) // GitHub timed out, but Panda had taken it
			taken.GUID = "bbbbbbbb-0000-0000-0000-000000000001"
			e.gh.AddHookDelivery(taken)
			if err := e.store.RememberDelivery(context.Background(), tt.rememberedUnder, taken.GUID); err != nil {
				t.Fatal(err)
			}
			lost := e.gh.AddHookDelivery(failed(ago(50*time.Minute), 503))
			e.recovered()
			calls := &atomic.Int32{}
			s := e.sweeper(headers{AppsService: e.apps, headers: tt.headers, calls: calls})
			s.HookID = ""
			res, err := s.Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := e.gh.Redeliveries(); !slices.Equal(got, []int64{lost}) || res.Taken != 1 {
				t.Fatalf("redeliveries = %v, taken %d; want [%d] and 1 taken", got, res.Taken, lost)
			}
			if calls.Load() != 1 {
				t.Errorf("GetHookDelivery called %d times, want once", calls.Load())
			}
		})
	}
}

// flaky fails the first redelivery request it is given.
type flaky struct {
	*github.AppsService
	failed *atomic.Bool
}

func (f flaky) RedeliverHookDelivery(ctx context.Context, id int64) (*github.HookDelivery, *github.Response, error) {
	if f.failed.CompareAndSwap(false, true) {
		return nil, nil, errors.New("connection reset")
	}
	return f.AppsService.RedeliverHookDelivery(ctx, id)
}

func TestSweepReleasesClaimOnFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.gh.AddHookDelivery(failed(ago(time.Hour), 503))
	e.recovered()
	s := e.sweeper(flaky{AppsService: e.apps, failed: &atomic.Bool{}})
	if _, err := s.Sweep(context.Background()); err == nil {
		t.Fatal("Sweep: no error from a failed redelivery request")
	}
	if n := len(e.gh.Redeliveries()); n != 0 {
		t.Fatalf("redeliveries after the failed request = %d, want 0", n)
	}
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatalf("second Sweep: %v", err)
	}
	if got := e.gh.Redeliveries(); !slices.Equal(got, []int64{id}) {
		t.Fatalf("redeliveries = %v, want [%d] asked again after the failure", got, id)
	}
}

func TestRunSweepsPeriodically(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	done := make(chan error, 2)
	for range 2 { // two workers share the slot
		s := e.sweeper(nil)
		s.Interval = 100 * time.Millisecond
		go func() { done <- s.Run(ctx) }()
	}
	id := e.gh.AddHookDelivery(failed(ago(time.Minute), 0))
	e.recovered()
	deadline := time.Now().Add(5 * time.Second)
	for len(e.gh.Redeliveries()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a few more ticks: still asked once
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	if got := e.gh.Redeliveries(); !slices.Equal(got, []int64{id}) {
		t.Fatalf("redeliveries = %v, want [%d]", got, id)
	}
	lists := 0
	for _, r := range e.gh.Requests() {
		if r.Path == "/app/hook/deliveries" {
			lists++
		}
	}
	if most := int(time.Since(start)/(90*time.Millisecond)) + 2; lists > most {
		t.Errorf("%d listings in %v at a 100 ms interval with two workers, want at most %d: one per interval", lists, time.Since(start), most)
	}
}

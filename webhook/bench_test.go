package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// benchIntake is the whole intake of one benchmark: the real handler against
// a private Redis, and a realistic push delivery (the recorded push fixture
// with an App installation). Logs are discarded: the benchmark measures the
// intake, not the terminal.
type benchIntake struct {
	handler *Handler
	insp    *asynq.Inspector
	body    []byte
	sig     string
	seq     atomic.Int64
}

func newBenchIntake(b *testing.B) *benchIntake {
	b.Helper()
	rdb, err := store.Open(context.Background(), testenv.Redis(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rdb.Close() })
	body := patch(b, "push.branch.json", withInstallation(42))
	return &benchIntake{
		handler: &Handler{
			Secret: []byte(testSecret),
			Queue:  asynq.NewClientFromRedisClient(rdb),
			Store:  store.New(rdb),
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			// As cmd/app sets it.
			ServesFor: time.Second,
		},
		insp: asynq.NewInspectorFromRedisClient(rdb),
		body: body,
		sig:  sign(body),
	}
}

// post sends one delivery with a delivery id never used before, so every
// request goes the whole way: verify, parse, dedupe miss, route, enqueue,
// remember. It reports the status code.
func (bi *benchIntake) post() int {
	id := "bench-" + strconv.FormatInt(bi.seq.Add(1), 10)
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(bi.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-GitHub-Hook-ID", "123")
	req.Header.Set("X-Hub-Signature-256", bi.sig)
	rec := httptest.NewRecorder()
	bi.handler.ServeHTTP(rec, req)
	return rec.Code
}

// checkQueued fails the benchmark unless every delivery became a task.
func (bi *benchIntake) checkQueued(b *testing.B) {
	b.Helper()
	q, err := bi.insp.GetQueueInfo(tasks.QueueWebhooks)
	if err != nil {
		b.Fatalf("inspect queue: %v", err)
	}
	if want := int(bi.seq.Load()); q.Size != want {
		b.Fatalf("%d tasks queued for %d deliveries", q.Size, want)
	}
}

// BenchmarkIntake measures POST /webhook end to end against a real Redis, one
// delivery at a time (serial), from GOMAXPROCS goroutines (parallel) and
// from 16 per GOMAXPROCS (concurrent), and reports deliveries per second besides ns/op.
//
//	go test -run '^$' -bench Intake -benchtime 5s ./webhook
func BenchmarkIntake(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		bi := newBenchIntake(b)
		b.SetBytes(int64(len(bi.body)))
		b.ReportAllocs()
		start, cpu := time.Now(), cpuTime(b)
		b.ResetTimer()
		for range b.N {
			if code := bi.post(); code != http.StatusAccepted {
				b.Fatalf("status %d, want 202", code)
			}
		}
		reportCPU(b, start, cpu)
		bi.checkQueued(b)
	})
	// parallel runs GOMAXPROCS clients at once, concurrent 16 per core: the app
	// serves many connections at once, and an intake that waits on Redis
	// round trips gains from overlapping them.
	b.Run("parallel", func(b *testing.B) { benchParallel(b, 1) })
	b.Run("concurrent", func(b *testing.B) { benchParallel(b, 16) })
}

func benchParallel(b *testing.B, perCPU int) {
	bi := newBenchIntake(b)
	b.SetBytes(int64(len(bi.body)))
	b.ReportAllocs()
	b.SetParallelism(perCPU)
	var failed atomic.Int64
	start, cpu := time.Now(), cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if bi.post() != http.StatusAccepted {
				failed.Add(1)
			}
		}
	})
	reportCPU(b, start, cpu)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d deliveries were not accepted", n, b.N)
	}
	bi.checkQueued(b)
}

// cpuTime is the CPU time (user and system, all threads) this process has
// used so far. The machine is shared, so wall-clock figures move with the
// neighbours' load; the CPU the intake spends per delivery does not, or far
// less (Redis runs in its own process and is not counted).
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports deliveries per second and the process CPU per delivery,
// in microseconds (the load goal is at most 200 µs per accepted delivery).
func reportCPU(b *testing.B, start time.Time, cpu time.Duration) {
	b.Helper()
	used := cpuTime(b) - cpu
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/delivery")
}

// BenchmarkRoute decodes and routes the benchmark's push delivery with the
// scanner and, as the baseline of the same run, with encoding/json (the
// decoder Route used before).
//
//	go test -run '^$' -bench Route ./webhook
func BenchmarkRoute(b *testing.B) {
	body := patch(b, "push.branch.json", withInstallation(42))
	d := tasks.Delivery{HookID: "1", ID: "6f7d1d40-0000-4000-8000-000000000000"}
	for _, c := range []struct {
		name  string
		route func(string, []byte, tasks.Delivery) (Decision, error)
	}{{"scanner", Route}, {"encoding_json", routeStd}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for range b.N {
				if dec, err := c.route("push", body, d); err != nil || dec.Task == nil {
					b.Fatalf("%+v, %v", dec, err)
				}
			}
		})
	}
}

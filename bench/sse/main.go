// Command sse measures the SSE fan-out of package api: N clients on one
// deployment over 127.0.0.1, the delay from an event's append to Redis to its
// arrival at every client (p50, p99, max), and the app's memory per idle
// client.
//
// The app runs in a child process (this program with -serve), so its memory is
// measured apart from the clients'. Usage:
//
//	go run ./bench/sse [-redis redis://127.0.0.1:6379/15] [-clients 1000] [-events 100]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pandadeploy/panda/api"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/store"
)

func main() {
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/15", "Redis URL")
	clients := flag.Int("clients", 1000, "concurrent SSE clients")
	events := flag.Int("events", 100, "events appended while they listen")
	interval := flag.Duration("interval", 20*time.Millisecond, "time between two appends")
	serve := flag.Bool("serve", false, "run the app (child process)")
	heapProfile = flag.String("heapprofile", "", "write the app's heap profile with idle clients to this file")
	flag.Parse()
	raiseFileLimit()
	ctx := context.Background()
	if *serve {
		if err := runServer(ctx, *redisURL); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(ctx, *redisURL, *clients, *events, *interval); err != nil {
		log.Fatal(err)
	}
}

var heapProfile *string

func saveProfile(base, path string) error {
	resp, err := http.Get(base + "/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// runServer serves the API on a free loopback port, prints it, and serves
// /debug/mem: the process's memory after a GC.
func runServer(ctx context.Context, redisURL string) error {
	rdb, err := store.Open(ctx, redisURL)
	if err != nil {
		return err
	}
	st := store.New(rdb)
	h := api.New(api.Options{Store: st, Connections: connections.NewStore(rdb, nil),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /debug/mem", func(w http.ResponseWriter, r *http.Request) {
		// Several cycles: each GC halves oversized goroutine stacks, as the
		// periodic GCs of a long-running server do.
		for range 5 {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		_ = json.NewEncoder(w).Encode(map[string]uint64{
			"heapInuse": m.HeapInuse, "stackInuse": m.StackInuse, "goroutines": uint64(runtime.NumGoroutine()),
			"rss": rss(),
		})
	})
	mux.Handle("GET /debug/pprof/heap", pprof.Handler("heap"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println("ADDR", ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.Serve(ln)
}

func rss() uint64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}

type mem struct{ HeapInuse, StackInuse, Goroutines, RSS uint64 }

func (m mem) goBytes() uint64 { return m.HeapInuse + m.StackInuse }

func readMem(base string) (mem, error) {
	resp, err := http.Get(base + "/debug/mem")
	if err != nil {
		return mem{}, err
	}
	defer resp.Body.Close()
	var m mem
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

func startServer(redisURL string) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "-serve", "-redis", redisURL)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		stop()
		return "", nil, fmt.Errorf("server did not start: %q %v", line, err)
	}
	return "http://" + addr, stop, nil
}

func run(ctx context.Context, redisURL string, n, events int, interval time.Duration) error {
	base, stop, err := startServer(redisURL)
	if err != nil {
		return err
	}
	defer stop()
	rdb, err := store.Open(ctx, redisURL)
	if err != nil {
		return err
	}
	st := store.New(rdb)
	d, _, err := st.Create(ctx, "bench:"+store.NewID(), &store.Deployment{ID: store.NewID(), Status: store.StatusRunning, Repo: "bench/sse"})
	if err != nil {
		return err
	}
	before, err := readMem(base)
	if err != nil {
		return err
	}

	res := newResults(n)
	var ready, done sync.WaitGroup
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			if err := client(base, d.ID, &ready, res, i); err != nil {
				log.Printf("client %d: %v", i, err)
			}
		}()
	}
	ready.Wait()
	time.Sleep(2 * time.Second) // let every handler settle into its idle wait
	idle, err := readMem(base)
	if err != nil {
		return err
	}
	if *heapProfile != "" {
		if err := saveProfile(base, *heapProfile); err != nil {
			return err
		}
	}

	for i := range events {
		ev := store.Event{Type: store.EventStage, Stage: "build", Message: fmt.Sprint(i),
			Details: sentNow()}
		if _, err := st.Append(ctx, d.ID, ev); err != nil {
			return err
		}
		time.Sleep(interval)
	}
	if _, err := st.Append(ctx, d.ID, store.Event{Type: store.EventDone, Message: "done",
		Details: sentNow()}); err != nil {
		return err
	}
	done.Wait()
	report(n, events, before, idle, res)
	return nil
}

// probe is the details of this benchmark's events: when the event was
// appended, so each client can measure its delay. It is no kind of package
// events: the benchmark measures the fan-out, whatever the details hold.
type probe struct {
	Sent int64 `json:"sent"` // Unix nanoseconds
}

func sentNow() json.RawMessage {
	raw, _ := json.Marshal(probe{Sent: time.Now().UnixNano()}) // an int64 always marshals
	return raw
}

// client reads one event stream and records the delay of every event.
func client(base, id string, ready *sync.WaitGroup, res *results, i int) error {
	signalled := false
	defer func() {
		if !signalled {
			ready.Done()
		}
	}()
	resp, err := http.Get(base + "/api/v1/deploy/" + id + "/events")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ready.Done()
	signalled = true
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		// Parsed by hand: the clients share the machine with the app, and
		// decoding every event as JSON would measure them, not it.
		at := time.Now()
		_, rest, ok := strings.Cut(data, `"sent":`)
		if !ok {
			return fmt.Errorf("event without sent: %s", data)
		}
		var sent int64
		fmt.Sscan(strings.TrimRight(rest, "}"), &sent)
		res.add(i, at.Sub(time.Unix(0, sent)))
		if strings.Contains(data, `"type":"done"`) {
			return nil
		}
	}
	return sc.Err()
}

type results struct {
	mu     sync.Mutex
	delays []time.Duration
	counts []int
}

func newResults(n int) *results { return &results{counts: make([]int, n)} }

func (r *results) add(client int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delays = append(r.delays, d)
	r.counts[client]++
}

func report(n, events int, before, idle mem, res *results) {
	slices.Sort(res.delays)
	pct := func(p float64) time.Duration {
		if len(res.delays) == 0 {
			return 0
		}
		return res.delays[min(len(res.delays)-1, int(float64(len(res.delays))*p))]
	}
	complete := 0
	for _, c := range res.counts {
		if c == events+1 {
			complete++
		}
	}
	fmt.Printf("clients: %d, events: %d, deliveries: %d (%d clients got all %d)\n", n, events+1, len(res.delays), complete, events+1)
	fmt.Printf("append-to-arrival delay: p50 %v, p99 %v, max %v\n",
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), res.delays[len(res.delays)-1].Round(10*time.Microsecond))
	perGo := float64(int64(idle.goBytes())-int64(before.goBytes())) / float64(n) / 1024
	perRSS := float64(int64(idle.RSS)-int64(before.RSS)) / float64(n) / 1024
	fmt.Printf("app memory per idle client: %.1f KiB (Go heap+stacks: %.1f heap, %.1f stacks), %.1f KiB (RSS); goroutines %d -> %d\n",
		perGo, float64(int64(idle.HeapInuse)-int64(before.HeapInuse))/float64(n)/1024,
		float64(int64(idle.StackInuse)-int64(before.StackInuse))/float64(n)/1024, perRSS, before.Goroutines, idle.Goroutines)
}

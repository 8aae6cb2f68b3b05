// Command load offers signed GitHub push deliveries to a running Panda app at a
// fixed rate and reports how fast it answered.
//
//	go run ./bench/load -url http://127.0.0.1:8080/webhook -secret-file secret -rate 2000 -duration 60s
//
// The load is open-loop: delivery i is due at start + i/rate whatever became of
// the ones before, and its answer time is counted from when it was due, so a
// slow server cannot lower the offered load or hide its queueing (coordinated
// omission). It talks only to 127.0.0.1, ::1 or localhost: it is a benchmark
// tool, and a flood of signed deliveries must never reach a real deployment.
//
// It prints a summary, and writes load.csv (per-second figures) and load.svg
// (answer time over the run) into -out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	URL          string
	Secret       []byte
	Rate         float64
	Duration     time.Duration
	Timeout      time.Duration
	MaxInFlight  int
	Payload      string
	Installation int64
	RedisURL     string
	Out          string
}

func parseFlags(args []string) (config, error) {
	var c config
	var secret, secretFile string
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080/webhook", "webhook URL of the app (loopback only)")
	fs.StringVar(&secret, "secret", "", "webhook secret (prefer -secret-file or LOAD_WEBHOOK_SECRET: argv is visible to other users)")
	fs.StringVar(&secretFile, "secret-file", "", "file holding the webhook secret")
	fs.Float64Var(&c.Rate, "rate", 2000, "deliveries offered per second")
	fs.DurationVar(&c.Duration, "duration", 60*time.Second, "how long to offer load")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "answer time after which a delivery counts as failed")
	fs.IntVar(&c.MaxInFlight, "max-inflight", 20000, "deliveries waiting for an answer at most; more are counted as dropped, not delayed")
	fs.StringVar(&c.Payload, "payload", "webhook/testdata/push.branch.json", "recorded push payload to send")
	fs.Int64Var(&c.Installation, "installation", 42, "installation id written into the payload")
	fs.StringVar(&c.RedisURL, "redis", "", "Redis URL of the app (loopback only), to report memory and queue depth")
	fs.StringVar(&c.Out, "out", "bench/load/out", "directory for load.csv and load.svg")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case secretFile != "":
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return c, fmt.Errorf("read -secret-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	case secret == "":
		secret = os.Getenv("LOAD_WEBHOOK_SECRET")
	}
	c.Secret = []byte(secret)
	return c, c.validate()
}

func (c config) validate() error {
	if len(c.Secret) == 0 {
		return errors.New("a webhook secret is required (-secret, -secret-file or LOAD_WEBHOOK_SECRET)")
	}
	if c.Rate <= 0 || c.Duration <= 0 || c.MaxInFlight <= 0 {
		return errors.New("-rate, -duration and -max-inflight must be positive")
	}
	if err := loopbackOnly("-url", c.URL, "http"); err != nil {
		return err
	}
	if c.RedisURL != "" {
		return loopbackOnly("-redis", c.RedisURL, "redis")
	}
	return nil
}

// loopbackOnly refuses any address but this machine's loopback: the tool sends
// thousands of validly signed deliveries a second, which must never land on a
// real server by a typo.
func loopbackOnly(flagName, raw, scheme string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != scheme {
		return fmt.Errorf("%s must be a %s:// URL", flagName, scheme)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s: refusing host %q: only 127.0.0.1, ::1 or localhost may be loaded", flagName, host)
}

func run() error {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	deliveries, err := newDeliveries(cfg.Payload, cfg.Installation, cfg.Secret)
	if err != nil {
		return err
	}
	var probe *redisProbe
	if cfg.RedisURL != "" {
		if probe, err = newRedisProbe(ctx, cfg.RedisURL); err != nil {
			return err
		}
		defer probe.Close()
	}
	before := probe.sample(ctx)
	fmt.Printf("offering %.0f deliveries/s for %s to %s\n", cfg.Rate, cfg.Duration, cfg.URL)
	res := generate(ctx, cfg, deliveries, probe)
	after := probe.sample(ctx)
	sum := summarize(res, cfg)
	sum.RedisBefore, sum.RedisAfter = before, after
	sum.print(os.Stdout)
	fmt.Printf("generator  %.2f CPU-s of its own (it shares the machine with what it measures)\n", cpuSeconds())
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return fmt.Errorf("create -out: %w", err)
	}
	if err := writeCSV(filepath.Join(cfg.Out, "load.csv"), sum.Seconds); err != nil {
		return err
	}
	if err := writeSVG(filepath.Join(cfg.Out, "load.svg"), sum); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(cfg.Out, "load.csv"), filepath.Join(cfg.Out, "load.svg"))
	return nil
}

// cpuSeconds returns the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

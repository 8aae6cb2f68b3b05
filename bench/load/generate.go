package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Status codes of results that got no HTTP answer.
const (
	statusTransport = 0  // connection refused, reset, timed out
	statusDropped   = -1 // never sent: -max-inflight deliveries were already waiting
)

// result is what became of one delivery.
type result struct {
	Due    time.Duration // when it was due, from the start of the run
	Took   time.Duration // from when it was due to the end of the answer
	Status int
}

// runResult is everything one run measured.
type runResult struct {
	Results []result
	// Elapsed runs from the start to the last answer.
	Elapsed time.Duration
	// Memory is Redis' used memory sampled once a second (empty without -redis).
	Memory []memSample
}

// generate offers cfg.Rate deliveries a second for cfg.Duration, open-loop,
// and waits for the answers (at most cfg.Timeout each).
func generate(ctx context.Context, cfg config, ds *deliveries, probe *redisProbe) runResult {
	n := int(cfg.Rate * cfg.Duration.Seconds())
	results := make([]result, n) // each goroutine writes only its own element
	client := &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			MaxIdleConns:        cfg.MaxInFlight,
			MaxIdleConnsPerHost: cfg.MaxInFlight,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
	defer client.CloseIdleConnections()

	start := time.Now()
	memCtx, stopMem := context.WithCancel(ctx)
	memDone := make(chan []memSample, 1)
	go func() { memDone <- probe.sampleEverySecond(memCtx, start) }()

	var wg sync.WaitGroup
	var inFlight atomic.Int64
	interval := float64(time.Second) / cfg.Rate
	for i := 0; i < n && ctx.Err() == nil; {
		// Launch everything due by now, then sleep a little: sleeping per
		// delivery would cost more than the 0.5 ms between them at 2,000/s.
		now := time.Since(start)
		for ; i < n && time.Duration(float64(i)*interval) <= now; i++ {
			due := time.Duration(float64(i) * interval)
			if inFlight.Load() >= int64(cfg.MaxInFlight) {
				results[i] = result{Due: due, Status: statusDropped}
				continue
			}
			inFlight.Add(1)
			wg.Add(1)
			go func(i int, due time.Duration) {
				defer wg.Done()
				defer inFlight.Add(-1)
				status := post(ctx, client, cfg.URL, ds.make(i))
				results[i] = result{Due: due, Took: time.Since(start) - due, Status: status}
			}(i, due)
		}
		time.Sleep(200 * time.Microsecond)
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopMem()
	return runResult{Results: results, Elapsed: elapsed, Memory: <-memDone}
}

// post sends one delivery as GitHub does and returns the answer's status
// code, or statusTransport.
func post(ctx context.Context, client *http.Client, url string, d delivery) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return statusTransport
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/panda-load")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", d.ID)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	req.Header.Set("X-Hub-Signature-256", d.Signature)
	resp, err := client.Do(req)
	if err != nil {
		return statusTransport
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

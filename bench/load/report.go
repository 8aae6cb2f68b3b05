package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"
)

// summary is what a run measured, reduced for people.
type summary struct {
	Rate     float64
	Duration time.Duration
	Elapsed  time.Duration
	Offered  int
	OK       int            // 2xx answers
	ByStatus map[string]int // every outcome: "202", "503", "transport", "dropped"
	// Answer-time percentiles over every delivery that got an HTTP answer.
	P50, P90, P99, Max time.Duration
	Seconds            []second

	RedisBefore, RedisAfter memSample
}

// second is one second of the run, by when deliveries were due.
type second struct {
	Second        int
	Offered       int
	OK            int
	Errors        int
	P50, P99, Max time.Duration
	UsedMemory    int64 // 0 without -redis
	Queued        int
}

func summarize(r runResult, cfg config) summary {
	s := summary{Rate: cfg.Rate, Duration: cfg.Duration, Elapsed: r.Elapsed, Offered: len(r.Results), ByStatus: map[string]int{}}
	var all []time.Duration
	perSecond := make([][]time.Duration, int(cfg.Duration/time.Second)+1)
	s.Seconds = make([]second, len(perSecond))
	for i := range s.Seconds {
		s.Seconds[i].Second = i
	}
	for _, res := range r.Results {
		sec := &s.Seconds[int(res.Due/time.Second)]
		sec.Offered++
		s.ByStatus[statusLabel(res.Status)]++
		if res.Status >= 200 && res.Status < 300 {
			s.OK++
			sec.OK++
		} else {
			sec.Errors++
		}
		if res.Status > 0 {
			all = append(all, res.Took)
			perSecond[sec.Second] = append(perSecond[sec.Second], res.Took)
		}
	}
	s.P50, s.P90, s.P99, s.Max = percentiles(all)
	for i, ds := range perSecond {
		s.Seconds[i].P50, _, s.Seconds[i].P99, s.Seconds[i].Max = percentiles(ds)
	}
	for _, m := range r.Memory {
		if i := int(m.At/time.Second) - 1; m.OK && i >= 0 && i < len(s.Seconds) {
			s.Seconds[i].UsedMemory, s.Seconds[i].Queued = m.UsedMemory, m.Queued
		}
	}
	if len(s.Seconds) > 0 && s.Seconds[len(s.Seconds)-1].Offered == 0 {
		s.Seconds = s.Seconds[:len(s.Seconds)-1]
	}
	return s
}

func statusLabel(status int) string {
	switch status {
	case statusTransport:
		return "transport"
	case statusDropped:
		return "dropped"
	}
	return strconv.Itoa(status)
}

// percentiles sorts ds and returns its 50th, 90th and 99th percentiles and maximum.
func percentiles(ds []time.Duration) (p50, p90, p99, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50), at(0.90), at(0.99), ds[len(ds)-1]
}

func (s summary) achieved() float64 { return float64(s.OK) / s.Elapsed.Seconds() }

func (s summary) errors() int { return s.Offered - s.OK }

func (s summary) print(w io.Writer) {
	fmt.Fprintf(w, "offered    %d deliveries at %.0f/s over %s\n", s.Offered, s.Rate, s.Duration)
	fmt.Fprintf(w, "achieved   %.0f accepted/s (%d accepted in %s)\n", s.achieved(), s.OK, s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "answer     p50 %s  p90 %s  p99 %s  max %s\n", ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
	keys := make([]string, 0, len(s.ByStatus))
	for k := range s.ByStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "outcomes  ")
	for _, k := range keys {
		fmt.Fprintf(w, " %s: %d", k, s.ByStatus[k])
	}
	fmt.Fprintf(w, "  (errors: %d)\n", s.errors())
	if s.RedisBefore.OK && s.RedisAfter.OK {
		fmt.Fprintf(w, "redis      used_memory %s before, %s after (+%s); webhook queue %d before, %d after; processed today %d → %d\n",
			mib(s.RedisBefore.UsedMemory), mib(s.RedisAfter.UsedMemory), mib(s.RedisAfter.UsedMemory-s.RedisBefore.UsedMemory),
			s.RedisBefore.Queued, s.RedisAfter.Queued, s.RedisBefore.Processed, s.RedisAfter.Processed)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }

// writeCSV writes one line per second of the run.
func writeCSV(path string, secs []second) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"second", "offered", "ok", "errors", "p50_ms", "p99_ms", "max_ms", "redis_used_memory_bytes", "webhook_queue"})
	for _, s := range secs {
		_ = w.Write([]string{
			strconv.Itoa(s.Second), strconv.Itoa(s.Offered), strconv.Itoa(s.OK), strconv.Itoa(s.Errors),
			msNum(s.P50), msNum(s.P99), msNum(s.Max),
			strconv.FormatInt(s.UsedMemory, 10), strconv.Itoa(s.Queued),
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func msNum(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const payload = "../../webhook/testdata/push.branch.json"

func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		url    string
		wantOK bool
	}{
		{name: "ipv4-loopback", url: "http://127.0.0.1:8080/webhook", wantOK: true},
		{name: "other-loopback", url: "http://127.0.0.2:8080/webhook", wantOK: true},
		{name: "ipv6-loopback", url: "http://[::1]:8080/webhook", wantOK: true},
		{name: "localhost", url: "http://localhost:8080/webhook", wantOK: true},
		{name: "public-host", url: "http://panda.example.com/webhook"},
		{name: "private-address", url: "http://10.0.0.5:8080/webhook"},
		{name: "localhost-lookalike", url: "http://localhost.example.com/webhook"},
		{name: "userinfo-trick", url: "http://127.0.0.1@evil.example/webhook"},
		{name: "wrong-scheme", url: "https://127.0.0.1/webhook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := loopbackOnly("-url", tt.url, "http")
			if (err == nil) != tt.wantOK {
				t.Errorf("loopbackOnly(%q) = %v, want ok %v", tt.url, err, tt.wantOK)
			}
		})
	}
}

func TestDeliveriesAreUniqueAndSigned(t *testing.T) {
	t.Parallel()
	ds, err := newDeliveries(payload, 42, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range 3 {
		d := ds.make(i)
		mac := hmac.New(sha256.New, []byte("s3cret"))
		mac.Write(d.Body)
		if d.Signature != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("delivery %d: signature does not match its body", i)
		}
		var p struct {
			After        string `json:"after"`
			Installation struct {
				ID int64 `json:"id"`
			} `json:"installation"`
			HeadCommit struct {
				ID string `json:"id"`
			} `json:"head_commit"`
		}
		if err := json.Unmarshal(d.Body, &p); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		if p.Installation.ID != 42 || len(p.After) != 40 || p.HeadCommit.ID != p.After {
			t.Errorf("delivery %d: installation %d, after %q, head %q", i, p.Installation.ID, p.After, p.HeadCommit.ID)
		}
		if seen[d.ID] || seen[p.After] {
			t.Errorf("delivery %d repeats an id or a SHA", i)
		}
		seen[d.ID], seen[p.After] = true, true
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p50, p90, p99, max := percentiles(ds)
	if p50 != 51*time.Millisecond || p90 != 91*time.Millisecond || p99 != 100*time.Millisecond || max != 100*time.Millisecond {
		t.Errorf("percentiles = %v %v %v %v", p50, p90, p99, max)
	}
}

// TestGenerateOffersTheRateAndCountsOutcomes runs a short load against a
// server that refuses every tenth delivery and writes the report files.
func TestGenerateOffersTheRateAndCountsOutcomes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	ids := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		ids[r.Header.Get("X-GitHub-Delivery")] = true
		n := len(ids)
		mu.Unlock()
		if n%10 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	cfg := config{URL: srv.URL, Secret: []byte("x"), Rate: 400, Duration: 500 * time.Millisecond, Timeout: 5 * time.Second, MaxInFlight: 1000, Out: t.TempDir()}
	ds, err := newDeliveries(payload, 42, cfg.Secret)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	s := summarize(generate(context.Background(), cfg, ds, nil), cfg)
	if took := time.Since(started); took < 450*time.Millisecond || took > 3*time.Second {
		t.Errorf("the run took %v for 500ms of load", took)
	}
	if s.Offered != 200 || len(ids) != 200 || s.ByStatus["202"] != 180 || s.ByStatus["503"] != 20 || s.OK != 180 {
		t.Errorf("offered %d, server saw %d unique, outcomes %v, ok %d; want 200, 200, 180×202 + 20×503", s.Offered, len(ids), s.ByStatus, s.OK)
	}
	if s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 {
		t.Errorf("percentiles p50 %v p99 %v max %v", s.P50, s.P99, s.Max)
	}
	for _, write := range []func() error{
		func() error { return writeCSV(filepath.Join(cfg.Out, "load.csv"), s.Seconds) },
		func() error { return writeSVG(filepath.Join(cfg.Out, "load.svg"), s) },
	} {
		if err := write(); err != nil {
			t.Fatal(err)
		}
	}
	csv, _ := os.ReadFile(filepath.Join(cfg.Out, "load.csv"))
	if lines := strings.Count(string(csv), "\n"); lines != 2 { // header and second 0
		t.Errorf("load.csv has %d lines:\n%s", lines, csv)
	}
	svg, _ := os.ReadFile(filepath.Join(cfg.Out, "load.svg"))
	if !strings.HasPrefix(string(svg), "<svg") || strings.Count(string(svg), "<polyline") != 3 {
		t.Errorf("load.svg is not the chart:\n%.300s", svg)
	}
}

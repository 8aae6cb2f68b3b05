package pipelinebench

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// result is one mode's pairs: contender a (Panda, or "with cache") against b.
type result struct {
	builder, mode         string
	a, b                  string
	as, bs                []timing
	loadBefore, loadAfter string
}

// ratio is the ratio of the medians of the totals, a over b.
func (r result) ratio() float64 {
	return median(r.as).total().Seconds() / median(r.bs).total().Seconds()
}

// report logs every run, reports medians and the ratio, and keeps r for the chart.
func (f *fixture) report(b *testing.B, r result) {
	f.results = append(f.results, r)
	ma, mb := median(r.as), median(r.bs)
	b.ReportMetric(ma.total().Seconds(), "a-s")
	b.ReportMetric(mb.total().Seconds(), "b-s")
	b.ReportMetric(r.ratio(), "a/b")
	b.Logf("%s %s, %d pairs; load average before %s, after %s", r.builder, r.mode, len(r.as), r.loadBefore, r.loadAfter)
	b.Logf("  median clone/build/push/total (min–max total):")
	for _, c := range []struct {
		name string
		ts   []timing
	}{{r.a, r.as}, {r.b, r.bs}} {
		m := median(c.ts)
		lo, hi := span(c.ts)
		b.Logf("  %-10s %v / %v / %v / %v (%v–%v)", c.name, m.clone, m.build, m.push, m.total(), lo, hi)
	}
	b.Logf("  %s/%s = %.2f", r.a, r.b, r.ratio())
	for i := range r.as {
		b.Logf("  pair %d: %s %v (%v/%v/%v%s), %s %v (%v/%v/%v%s)", i, r.a, r.as[i].total(), r.as[i].clone, r.as[i].build, r.as[i].push, cachedNote(r.as[i]),
			r.b, r.bs[i].total(), r.bs[i].clone, r.bs[i].build, r.bs[i].push, cachedNote(r.bs[i]))
	}
}

// checkCached fails b unless every run of ts reported a CACHED step (want) or
// none did (!want): a "cold" run that hit a cache, or a cache that was never
// hit, would make the comparison measure something else. Runs whose log was not
// read (cached -1) are not checked.
func checkCached(b *testing.B, who string, ts []timing, want bool) {
	b.Helper()
	for i, t := range ts {
		if t.cached >= 0 && (t.cached > 0) != want {
			b.Errorf("%s run %d: %d steps CACHED, want %s", who, i, t.cached, map[bool]string{true: "some", false: "none"}[want])
		}
	}
}

func cachedNote(t timing) string {
	if t.cached < 0 {
		return ""
	}
	return fmt.Sprintf(", %d steps CACHED", t.cached)
}

// median returns the run whose total is the median (the lower middle for an
// even count), so its stages add up to its total.
func median(ts []timing) timing {
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b timing) int { return int(a.total() - b.total()) })
	return s[(len(s)-1)/2]
}

// span is the lowest and highest total.
func span(ts []timing) (lo, hi time.Duration) {
	for i, t := range ts {
		if i == 0 || t.total() < lo {
			lo = t.total()
		}
		hi = max(hi, t.total())
	}
	return lo, hi
}

// loadAvg is the 1, 5 and 15 minute load averages, as uptime prints them.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

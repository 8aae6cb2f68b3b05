package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"strings"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH                 = 960, 420
	padL, padR, padT, padB         = 70, 20, 60, 50
	plotW, plotH                   = chartW - padL - padR, chartH - padT - padB
	minMS, maxMS                   = 0.1, 100000.0 // the logarithmic y axis spans these
	goalMS                 float64 = 50
)

// writeSVG draws answer time per second (p50, p99, max) on a logarithmic axis,
// with the 50 ms goal, and the summary as the title.
func writeSVG(path string, s summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	title := fmt.Sprintf("Webhook answer time: %.0f deliveries/s offered for %s, %.0f/s accepted, errors %d", s.Rate, s.Duration, s.achieved(), s.errors())
	sub := fmt.Sprintf("overall p50 %s, p90 %s, p99 %s, max %s", ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padL, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="42">%s</text>`+"\n", padL, html.EscapeString(sub))
	drawAxes(&b, len(s.Seconds))
	goalY := yOf(goalMS)
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#2a2" stroke-dasharray="6 4"/>`+"\n", padL, padL+plotW, goalY, goalY)
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#2a2" text-anchor="end">goal p99 50 ms</text>`+"\n", padL+plotW-4, goalY-4)
	series := []struct {
		name, color string
		get         func(second) time.Duration
	}{
		{"max", "#bbb", func(x second) time.Duration { return x.Max }},
		{"p99", "#d33", func(x second) time.Duration { return x.P99 }},
		{"p50", "#36c", func(x second) time.Duration { return x.P50 }},
	}
	for i, sr := range series {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", sr.color, points(s.Seconds, sr.get))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="3" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			padL+plotW-200+i*70, padT-10, sr.color, padL+plotW-182+i*70, padT-6, sr.name)
	}
	b.WriteString("</svg>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func drawAxes(b *strings.Builder, seconds int) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", padL, padT, plotW, plotH)
	for v := minMS; v <= maxMS; v *= 10 {
		y := yOf(v)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", padL, padL+plotW, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s ms</text>`+"\n", padL-6, y+4, trimFloat(v))
	}
	step := max(1, seconds/12)
	for sec := 0; sec <= seconds; sec += step {
		x := xOf(float64(sec), seconds)
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#888"/>`+"\n", x, x, padT+plotH, padT+plotH+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%d s</text>`+"\n", x, padT+plotH+20, sec)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">second of the run (by when each delivery was due)</text>`+"\n", padL+plotW/2, chartH-8)
}

func points(secs []second, get func(second) time.Duration) string {
	var p []string
	for _, s := range secs {
		v := float64(get(s)) / float64(time.Millisecond)
		if v <= 0 {
			continue
		}
		p = append(p, fmt.Sprintf("%.1f,%.1f", xOf(float64(s.Second)+0.5, len(secs)), yOf(v)))
	}
	return strings.Join(p, " ")
}

func xOf(sec float64, seconds int) float64 {
	return padL + sec/float64(max(seconds, 1))*plotW
}

// yOf maps milliseconds to the logarithmic axis, clamped to its range.
func yOf(v float64) float64 {
	v = math.Min(math.Max(v, minMS), maxMS)
	frac := (math.Log10(v) - math.Log10(minMS)) / (math.Log10(maxMS) - math.Log10(minMS))
	return padT + plotH - frac*plotH
}

func trimFloat(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
}

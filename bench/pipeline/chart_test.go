package pipelinebench

import (
	"fmt"
	"html"
	"os"
	"strings"
)

// Chart geometry, in SVG user units (bench/load's chart is the model).
const (
	chartW, chartH         = 960, 440
	padL, padR, padT, padB = 70, 20, 70, 80
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
)

// writeChart draws, per builder and mode, the median total of each contender
// as a bar with its min–max range as a whisker, and the ratio above the pair.
func writeChart(path string, results []result) error {
	top := 0.0
	for _, r := range results {
		_, hi := span(r.as)
		_, hi2 := span(r.bs)
		top = max(top, hi.Seconds(), hi2.Seconds())
	}
	step := 1.0
	for top/step > 8 {
		step *= 2
	}
	top = float64(int(top/step)+1) * step
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">Clone + build + push, seconds: Panda against a plain script, per BuildKit builder</text>`+"\n", padL)
	if len(results) > 0 {
		fmt.Fprintf(&b, `<text x="%d" y="42">bars: median of %d pairs run in alternate order; whiskers: min–max; load average %s before, %s after</text>`+"\n",
			padL, len(results[0].as), html.EscapeString(results[0].loadBefore), html.EscapeString(results[len(results)-1].loadAfter))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", padL, padT, plotW, plotH)
	y := func(s float64) float64 { return padT + plotH - s/top*plotH }
	for s := 0.0; s <= top; s += step {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%g s</text>`+"\n",
			padL, padL+plotW, y(s), y(s), padL-6, y(s)+4, s)
	}
	slot := float64(plotW) / float64(max(len(results), 1))
	colors := [2]string{"#36c", "#bbb"}
	for i, r := range results {
		x0 := padL + float64(i)*slot
		bw := slot / 4
		for j, ts := range [][]timing{r.as, r.bs} {
			m := median(ts).total().Seconds()
			lo, hi := span(ts)
			x := x0 + slot/2 - bw + float64(j)*bw
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y(m), bw-2, y(0)-y(m), colors[j])
			cx := x + (bw-2)/2
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#000"/>`+"\n", cx, cx, y(lo.Seconds()), y(hi.Seconds()))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="10">%s</text>`+"\n", cx, padT+plotH+14, html.EscapeString(label(r, j)))
		}
		_, hiA := span(r.as)
		_, hiB := span(r.bs)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold">%.2f</text>`+"\n",
			x0+slot/2, y(max(hiA, hiB).Seconds())-6, r.ratio())
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s %s</text>`+"\n", x0+slot/2, padT+plotH+34, r.builder, r.mode)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">numbers above a pair: ratio of medians (Panda/script; with/without cache for second-worker). Goal: ≤ 1.05 cold, ≤ 1.00 warm.</text>`+"\n",
		padL, chartH-12)
	b.WriteString("</svg>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func label(r result, j int) string {
	if j == 0 {
		return r.a
	}
	return r.b
}

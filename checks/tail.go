package checks

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/pandadeploy/panda/ghtext"
)

// GitHub refuses an output.text or output.summary longer than this many
// bytes, whatever its reference says about characters (github/docs#35252).
const maxOutputBytes = 65535

const (
	// maxTailBytes bounds the kept log tail, leaving room in output.text for
	// the code fences (at most 2×(maxLineBytes+1)+5 bytes) and the "earlier
	// lines" note, so the text always fits maxOutputBytes.
	maxTailBytes = 60000
	// maxLineBytes bounds one log line: a minified bundle printed by a build
	// must not push every other line out of the tail.
	maxLineBytes = 2000
)

// ansiEscape matches terminal colour and cursor sequences, which GitHub would
// show as garbage.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// tail is the last lines of one stage's log. It is not safe for concurrent
// use; runState's lock guards it.
type tail struct {
	lines   []string
	bytes   int
	dropped int // lines pushed out of the tail
}

// add appends one line, cleaned for display and scrubbed by scrub, and drops
// the oldest lines beyond the bound. Scrubbing here, before the line is
// counted, keeps the bound true of what is sent: a redaction may lengthen a
// line.
func (t *tail) add(line string, scrub func(string) string) {
	line = ghtext.Head(scrub(cleanLine(line)), maxLineBytes)
	t.lines = append(t.lines, line)
	t.bytes += len(line) + 1
	for t.bytes > maxTailBytes && len(t.lines) > 1 {
		t.bytes -= len(t.lines[0]) + 1
		t.lines[0] = ""
		t.lines = t.lines[1:]
		t.dropped++
	}
}

// cleanLine keeps what a terminal would show of line: no escape sequences,
// only the text after the last carriage return (progress bars redraw with
// \r), valid UTF-8, bounded length.
func cleanLine(line string) string {
	line = strings.TrimRight(line, "\r\n")
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		line = line[i+1:]
	}
	line = ansiEscape.ReplaceAllString(line, "")
	line = strings.ToValidUTF8(line, "\uFFFD")
	return strings.ReplaceAll(line, "\n", " ")
}

// text renders the tail as output.text: a fenced code block, preceded by a
// note when earlier lines were dropped. It returns "" for an empty tail.
func (t *tail) text() string {
	if len(t.lines) == 0 {
		return ""
	}
	body := strings.Join(t.lines, "\n")
	var b strings.Builder
	if t.dropped > 0 {
		fmt.Fprintf(&b, "_%d earlier lines not shown._\n\n", t.dropped)
	}
	b.WriteString(fenced(body, "text"))
	return b.String()
}

// fenced returns s in a fenced code block whose fence is longer than any run
// of backticks in s, so a log line cannot close the block and inject markdown.
func fenced(s, info string) string {
	fence := strings.Repeat("`", max(3, longestRun(s, '`')+1))
	return fence + info + "\n" + s + "\n" + fence
}

// longestRun returns the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] != c {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return longest
}

// shorten cuts s to at most n runes, marking the cut. It is for headlines,
// where the bound is what a reader takes in; GitHub's own limits are bytes
// and are applied by fitOutput.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}

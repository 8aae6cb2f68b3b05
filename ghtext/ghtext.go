// Package ghtext fits text into GitHub's size limits. GitHub measures its
// limits in bytes of UTF-8 even where its reference says "characters" (a
// check-run summary of 30,000 Hangul syllables is refused with "summary
// exceeds a maximum bytesize of 65535", github/docs#35252), so every cut here
// is by bytes and falls on a rune boundary: a cut inside a multibyte
// character would send invalid UTF-8, which GitHub also refuses.
package ghtext

import (
	"strings"
	"unicode/utf8"
)

// Ellipsis marks where Head or Tail cut text away.
const Ellipsis = "…"

// Head returns s if it fits in n bytes, else its longest beginning that fits
// in n bytes together with a trailing Ellipsis. Invalid UTF-8 in s is
// replaced first, so the result is always valid UTF-8 of at most n bytes
// (for n smaller than the Ellipsis, at most n bytes of s itself).
func Head(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	if n < len(Ellipsis) {
		return s[:runeStart(s, max(n, 0))]
	}
	return s[:runeStart(s, n-len(Ellipsis))] + Ellipsis
}

// Tail returns s if it fits in n bytes, else a leading Ellipsis and the
// longest end of s that fits with it in n bytes, starting at a line when a
// line break lies within the kept part: for a log, the last lines are what a
// reader needs. The result is valid UTF-8 of at most n bytes.
func Tail(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	if n < len(Ellipsis) {
		return s[runeEnd(s, len(s)-max(n, 0)):]
	}
	from := runeEnd(s, len(s)-(n-len(Ellipsis)))
	rest := s[from:]
	if i := strings.IndexByte(rest, '\n'); i >= 0 && i < len(rest)-1 {
		rest = rest[i+1:]
	}
	return Ellipsis + rest
}

// runeStart returns the largest i <= n at which a rune of s starts.
func runeStart(s string, n int) int {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// runeEnd returns the smallest i >= n at which a rune of s starts.
func runeEnd(s string, n int) int {
	for n < len(s) && !utf8.RuneStart(s[n]) {
		n++
	}
	return n
}

// Package names is the one place that decides which names Panda accepts:
// GitHub owners, repositories, branches, refs and commit SHAs; AWS regions,
// ARNs, ECR repositories and image tags, ECS names; and Panda's own
// environment names, connection names and Dockerfile paths.
//
// Every function is pure and safe for concurrent use. Each returns nil or an
// *Error that says, for a person, what is wrong. The rules are the provider's
// documented ones; where Panda is stricter (to keep a value from becoming a git
// option, leaving a path, or reading as another name in a check run), the doc
// comment says so and why.
package names

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is a refused name.
type Error struct {
	// What the value was meant to be, with its article: "a branch name".
	What string
	// Value is the refused value. Nothing this package checks is a secret, but
	// Error quotes only a bounded prefix of it.
	Value string
	// Problem says what is wrong, for a person: `it contains ".."`.
	Problem string
}

// Error returns `"x..y" is not a branch name: it contains ".."`.
func (e *Error) Error() string { return quote(e.Value) + " " + e.Short() }

// Short returns the message without the value, for callers that already
// point at where the value came from (a .panda.yml line, a JSON field):
// `is not a branch name: it contains ".."`.
func (e *Error) Short() string { return "is not " + e.What + ": " + e.Problem }

func refuse(what, value, problem string, args ...any) error {
	if len(args) > 0 {
		problem = fmt.Sprintf(problem, args...)
	}
	return &Error{What: what, Value: value, Problem: problem}
}

// maxQuote bounds how much of a refused value an error repeats: enough to
// recognise it, not enough to flood a log line or a check run.
const maxQuote = 64

// quote returns s quoted with Go escapes (so NUL, newlines and bidi controls
// show as escapes, never raw), cut to maxQuote bytes on a rune boundary.
func quote(s string) string {
	if len(s) <= maxQuote {
		return fmt.Sprintf("%+q", s)
	}
	cut := maxQuote
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%+q…", s[:cut])
}

// invisible reports the first rune of s that is a control or format character
// (Unicode categories Cc and Cf: NUL, newline, DEL, the bidi overrides U+202A–E
// and U+2066–9, zero-width spaces and joiners), or -1. Such a rune makes a name
// display as another in a check run or a log, so every name refuses them.
func invisible(s string) rune {
	for _, r := range s {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return r
		}
	}
	return -1
}

// charProblem returns why s holds a character outside allowed, or "".
func charProblem(s string, allowed func(r rune) bool) string {
	for _, r := range s {
		if !allowed(r) {
			return fmt.Sprintf("it contains %+q", r)
		}
	}
	return ""
}

func isLower(r rune) bool { return r >= 'a' && r <= 'z' }
func isUpper(r rune) bool { return r >= 'A' && r <= 'Z' }
func isDigit(r rune) bool { return r >= '0' && r <= '9' }
func isAlnum(r rune) bool { return isLower(r) || isUpper(r) || isDigit(r) }

func allDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return !isDigit(r) }) < 0
}

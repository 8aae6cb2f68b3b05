// Package redact removes secrets from text bound for places other people
// read: check runs, comments, Deployment statuses and logs.
//
// A Redactor works two ways. By value: every secret Panda holds (installation
// tokens as GitHub issued them, registry passwords, connection secrets, the
// webhook secret) is added with Add as it comes into the process, and any
// occurrence of it is replaced, whatever it looks like. By pattern: anything
// shaped like a credential (GitHub's token formats, URL passwords,
// Authorization headers, JWTs, ECR tokens, AWS key ids) is replaced even when
// Panda never held it, such as a token a build step prints. Values catch what
// no pattern knows; patterns catch what was never added.
package redact

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Mark replaces a secret.
const Mark = "[REDACTED]"

// minValueLen is the shortest value Add remembers: replacing every "a" or
// "1234" would make text unreadable, and a secret that short protects nothing.
const minValueLen = 8

// maxValues bounds the values a Redactor remembers. Installation tokens live
// an hour and are renewed, so without a bound a long-running worker would
// grow without end; the oldest values go first, and the patterns still cover
// GitHub's tokens.
const maxValues = 4096

// Redactor replaces secrets in text. The zero value is ready to use and
// redacts by pattern only until values are added. It is safe for concurrent
// use; a nil *Redactor redacts by pattern only.
type Redactor struct {
	mu     sync.RWMutex
	values []string // oldest first
}

// Add remembers secret values to replace wherever they occur. Values shorter
// than eight bytes are ignored.
func (r *Redactor) Add(values ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		if len(v) < minValueLen || slices.Contains(r.values, v) {
			continue
		}
		r.values = append(r.values, v)
	}
	if n := len(r.values) - maxValues; n > 0 {
		r.values = slices.Delete(r.values, 0, n)
	}
}

// String returns s with every known value and everything shaped like a
// credential replaced by Mark.
func (r *Redactor) String(s string) string {
	if r != nil {
		r.mu.RLock()
		values := slices.Clone(r.values)
		r.mu.RUnlock()
		// Longest first, so a value that contains another is replaced whole.
		slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) })
		for _, v := range values {
			s = strings.ReplaceAll(s, v, Mark)
		}
	}
	return Patterns(s)
}

// patterns match credentials by their shape. The GitHub token shapes are
// GitHub's own: the prefixes ghp_ (personal), gho_ (OAuth), ghu_
// (user-to-server), ghs_ (installation), ghr_ (refresh) and github_pat_
// (fine-grained)
// (https://github.blog/changelog/2021-03-31-authentication-token-format-updates-are-generally-available/),
// with the alphabet widened to [A-Za-z0-9._-] and no upper bound for the
// stateless installation tokens "ghs_APPID_JWT" of about 520 characters
// (docs.github.com, "Generating an installation access token for a GitHub
// App"; the pattern GitHub recommends, ghs_[A-Za-z0-9._]{36,}, quoted in
// PSModule/GitHub#603, plus "-" from the base64url alphabet, github/gh-aw#35016).
var patterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	{re: regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9._\-]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}`), repl: Mark},
	// The password inside a URL: https://user:secret@host. The user name stays
	// (x-access-token, oauth2): it says which credential leaked.
	{re: regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@`), repl: "${1}" + Mark + "@"},
	// Authorization-style headers, as a verbose tool might echo them.
	{re: regexp.MustCompile(`(?i)\b((?:proxy-)?authorization|x-registry-auth)(["']?\s*[:=]\s*["']?)(?:(?:basic|bearer|token)\s+)?[^\s"',]+`), repl: "${1}${2}" + Mark},
	// JSON web tokens (App JWTs).
	{re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+`), repl: Mark},
	// ECR authorization tokens: base64 of "AWS:<password>".
	{re: regexp.MustCompile(`QVdTO[A-Za-z0-9+/]{20,}={0,2}`), repl: Mark},
	// AWS access key ids.
	{re: regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`), repl: Mark},
}

// Patterns returns s with everything shaped like a credential replaced by
// Mark. Prefer a Redactor's String, which also knows the values Panda holds.
func Patterns(s string) string {
	for _, p := range patterns {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	return s
}

package checks

import (
	"regexp"

	"github.com/google/go-github/v66/github"
)

// redacted replaces a secret in text sent to GitHub.
const redacted = "[REDACTED]"

// secretPatterns match credentials that could reach a check run through a
// build log or an error message. Check runs are readable by everyone who can
// read the repository, so this is the last line of defence even though no
// stage is supposed to print a secret in the first place.
var secretPatterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	// GitHub tokens: installation (ghs_), personal (ghp_, github_pat_), OAuth (gho_, ghu_), refresh (ghr_).
	{re: regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})`), repl: redacted},
	// The password inside a URL: https://user:secret@host. The user name stays
	// (x-access-token, oauth2): it says which credential leaked.
	{re: regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@`), repl: "${1}" + redacted + "@"},
	// Authorization-style headers, as a verbose tool might echo them.
	{re: regexp.MustCompile(`(?i)\b((?:proxy-)?authorization|x-registry-auth)(["']?\s*[:=]\s*["']?)(?:(?:basic|bearer|token)\s+)?[^\s"',]+`), repl: "${1}${2}" + redacted},
	// JSON web tokens (App JWTs).
	{re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+`), repl: redacted},
	// ECR authorization tokens: base64 of "AWS:<password>".
	{re: regexp.MustCompile(`QVdTO[A-Za-z0-9+/]{20,}={0,2}`), repl: redacted},
	// AWS access key ids.
	{re: regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`), repl: redacted},
}

// redact removes what looks like a credential from s.
func redact(s string) string {
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	return s
}

// redactOutput redacts every text of o in place. It is applied to every body
// just before it is sent, so no path to GitHub can skip it.
func redactOutput(o *github.CheckRunOutput) {
	if o == nil {
		return
	}
	for _, p := range []*string{o.Title, o.Summary, o.Text} {
		if p != nil {
			*p = redact(*p)
		}
	}
	for _, a := range o.Annotations {
		if a.Message != nil {
			*a.Message = redact(*a.Message)
		}
	}
}

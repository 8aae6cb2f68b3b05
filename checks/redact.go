package checks

import (
	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/ghtext"
)

// GitHub's limits on the parts of a check-run output other than summary and
// text (maxOutputBytes), from the REST reference for check runs: an
// annotation's message and raw_details "The maximum size is 64 KB", its title
// "The maximum size is 255 characters"; the output title gets the same 255.
// All are applied as bytes, as GitHub counts them.
const (
	maxTitleBytes      = 255
	maxAnnotationBytes = 65535
)

// scrub redacts s with the Reporter's Redactor: the secret values Panda holds
// and anything shaped like a credential. Check runs are readable by everyone
// who can read the repository, so this is the last line of defence even
// though no stage is supposed to print a secret in the first place.
func (r *Reporter) scrub(s string) string { return r.Redactor.String(s) }

// fitOutput redacts every text of o in place and then fits it into GitHub's
// byte limits: the title and summary keep their beginning, the text (a log)
// keeps its end, so the last lines of a long log are what a reader sees. It is
// applied to every body just before it is sent, so no path to GitHub can skip
// it, and redaction comes first because it may lengthen a text.
func (r *Reporter) fitOutput(o *github.CheckRunOutput) {
	if o == nil {
		return
	}
	fit := func(p *string, n int, cut func(string, int) string) {
		if p != nil {
			*p = cut(r.scrub(*p), n)
		}
	}
	fit(o.Title, maxTitleBytes, ghtext.Head)
	fit(o.Summary, maxOutputBytes, ghtext.Head)
	fit(o.Text, maxOutputBytes, ghtext.Tail)
	for _, a := range o.Annotations {
		fit(a.Message, maxAnnotationBytes, ghtext.Head)
		fit(a.Title, maxTitleBytes, ghtext.Head)
		fit(a.RawDetails, maxAnnotationBytes, ghtext.Head)
	}
}

package names

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxOwner is GitHub's limit for user and organization names: "Username may
// only contain alphanumeric characters or single hyphens, and cannot begin or
// end with a hyphen" with at most 39 characters (GitHub's sign-up form and
// https://docs.github.com/en/enterprise-cloud@latest/admin/managing-iam/iam-configuration-reference/username-considerations-for-external-authentication).
const maxOwner = 39

// Owner returns nil if owner is a GitHub user or organization name: 1 to 39
// ASCII letters, digits and single hyphens, not starting with a hyphen.
//
// GitHub refuses a trailing hyphen for new accounts, but older accounts have
// one and still own repositories, so Panda accepts it. Enterprise Managed
// Users are named handle_shortcode
// (https://docs.github.com/en/enterprise-cloud@latest/admin/managing-iam/iam-configuration-reference/username-considerations-for-external-authentication),
// so one "_" followed by letters and digits is accepted at the end.
func Owner(owner string) error {
	const what = "a GitHub owner"
	handle, short, emu := strings.Cut(owner, "_")
	switch {
	case owner == "":
		return refuse(what, owner, "it is empty")
	case len(owner) > maxOwner:
		return refuse(what, owner, "it is longer than %d characters", maxOwner)
	case owner[0] == '-':
		return refuse(what, owner, `it starts with "-"`)
	case strings.Contains(handle, "--"):
		return refuse(what, owner, `it contains "--"`)
	case emu && (short == "" || handle == ""):
		return refuse(what, owner, `"_" must join a handle and a short code`)
	}
	if p := charProblem(handle, func(r rune) bool { return isAlnum(r) || r == '-' }); p != "" {
		return refuse(what, owner, "%s", p)
	}
	if p := charProblem(short, isAlnum); p != "" {
		return refuse(what, owner, "%s", p)
	}
	return nil
}

// maxRepository is GitHub's limit for repository names (the REST API's
// "Create a repository" answers 422 "name is too long (maximum is 100
// characters)").
const maxRepository = 100

// Repository returns nil if name is a GitHub repository name: 1 to 100 ASCII
// letters, digits, ".", "-" and "_" (GitHub replaces every other character by
// "-" when a repository is created), and not "." or "..", which GitHub
// refuses.
//
// Panda is stricter in one way: a name may not start with "-", so that it
// can never be read as an option by git or another tool.
func Repository(name string) error {
	const what = "a GitHub repository name"
	switch {
	case name == "":
		return refuse(what, name, "it is empty")
	case len(name) > maxRepository:
		return refuse(what, name, "it is longer than %d characters", maxRepository)
	case name == "." || name == "..":
		return refuse(what, name, "it is reserved")
	case name[0] == '-':
		return refuse(what, name, `it starts with "-"`)
	}
	if p := charProblem(name, func(r rune) bool { return isAlnum(r) || r == '.' || r == '-' || r == '_' }); p != "" {
		return refuse(what, name, "%s", p)
	}
	return nil
}

// Repo returns nil if fullName is "owner/name" with an Owner and a
// Repository, as GitHub spells a repository's full_name.
func Repo(fullName string) error {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok {
		return refuse("a repository owner/name", fullName, `it has no "/"`)
	}
	if err := Owner(owner); err != nil {
		return refuse("a repository owner/name", fullName, "%s", about("the owner", err))
	}
	if err := Repository(name); err != nil {
		return refuse("a repository owner/name", fullName, "%s", about("the name", err))
	}
	return nil
}

// about restates a part's problem for the whole: `it starts with "-"`
// becomes `the owner starts with "-"`.
func about(part string, err error) string {
	p := err.(*Error).Problem
	if rest, ok := strings.CutPrefix(p, "it "); ok {
		return part + " " + rest
	}
	return part + ": " + p
}

// SHA returns nil if sha is a full commit id as GitHub writes it: 40
// lower-case hex digits.
//
// Git itself can store SHA-256 repositories (64 hex digits, `git init
// --object-format=sha256`), but GitHub does not host them: its REST API and
// webhooks name every commit by its 40-digit SHA-1 (for example `head_sha` and
// `after` in https://docs.github.com/en/webhooks/webhook-events-and-payloads),
// and every SHA Panda checks comes from GitHub or names a commit on GitHub.
// Abbreviations are refused because they are ambiguous, and because anything
// else could be read by git as an option or a revision expression.
func SHA(sha string) error {
	const what = "a full commit SHA"
	if len(sha) != 40 {
		return refuse(what, sha, "it has %d characters, not 40 lower-case hex digits", len(sha))
	}
	if p := charProblem(sha, func(r rune) bool { return isDigit(r) || (r >= 'a' && r <= 'f') }); p != "" {
		return refuse(what, sha, "%s", p)
	}
	return nil
}

// maxRef bounds branch and ref names. Git has no limit, but GitHub answers
// 422 for refs longer than 255 bytes, and a ref is a file whose name most
// file systems limit to 255 bytes.
const maxRef = 255

// Branch returns nil if branch is a branch name (without "refs/heads/") that
// `git check-ref-format --branch` accepts and GitHub can hold
// (https://git-scm.com/docs/git-check-ref-format):
//
//   - no part starts with "." or ends with ".lock";
//   - no "..", "@{", "\", space, "~", "^", ":", "?", "*", "[", no ASCII
//     control character or DEL;
//   - it does not start or end with "/", has no "//", does not end with ".";
//   - it is not "@";
//
// and, as `git branch` refuses them, it does not start with "-" and is not
// "HEAD". Panda is stricter than git in two ways: the name must be valid UTF-8
// with no Unicode control or format character (a bidi override or a
// zero-width space would make it read as another branch in a check run), and
// it is at most 255 bytes. Letters from any script are accepted, as git and
// GitHub accept them, so "mаin" with a Cyrillic "а" is a different, valid
// branch.
func Branch(branch string) error {
	if branch == "HEAD" {
		return refuse("a branch name", branch, "it is reserved by git")
	}
	if branch != "" && branch[0] == '-' {
		// `git branch -- -x` creates it, but every git command would then
		// read the name as an option.
		return refuse("a branch name", branch, `it starts with "-"`)
	}
	if p := refProblem(branch); p != "" {
		return refuse("a branch name", branch, "%s", p)
	}
	return nil
}

// Ref returns nil if ref is a full ref name like "refs/heads/main" or
// "refs/tags/v1": "refs/" and at least one more part, each following the
// rules of Branch (git check-ref-format without --allow-onelevel).
func Ref(ref string) error {
	rest, ok := strings.CutPrefix(ref, "refs/")
	if !ok || rest == "" {
		return refuse("a ref", ref, `it does not start with "refs/" and a name`)
	}
	if p := refProblem(ref); p != "" {
		return refuse("a ref", ref, "%s", p)
	}
	return nil
}

// refProblem applies git check-ref-format's rules to name, returning why it
// is refused or "".
func refProblem(name string) string {
	switch {
	case name == "":
		return "it is empty"
	case len(name) > maxRef:
		return fmt.Sprintf("it is longer than %d bytes", maxRef)
	case !utf8.ValidString(name):
		return "it is not valid UTF-8"
	case name == "@":
		return "it is reserved by git"
	case strings.HasPrefix(name, "/"), strings.HasSuffix(name, "/"), strings.Contains(name, "//"):
		return `it starts or ends with "/" or contains "//"`
	case strings.HasSuffix(name, "."):
		return `it ends with "."`
	case strings.Contains(name, ".."):
		return `it contains ".."`
	case strings.Contains(name, "@{"):
		return `it contains "@{"`
	}
	if r := invisible(name); r >= 0 {
		return fmt.Sprintf("it contains %+q", r)
	}
	if i := strings.IndexAny(name, " ~^:?*[\\"); i >= 0 {
		return fmt.Sprintf("it contains %q", name[i])
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			return `a part starts with "."`
		}
		if strings.HasSuffix(part, ".lock") {
			return `a part ends with ".lock"`
		}
	}
	return ""
}

// maxDelivery bounds delivery ids. GitHub sends a GUID in X-GitHub-Delivery
// ("A globally unique identifier (GUID) to identify the event",
// https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers),
// 36 characters; 64 leaves room for GitHub Enterprise Server's forms.
const maxDelivery = 64

// DeliveryID returns nil if id can be a webhook delivery's GUID: 1 to 64 ASCII
// letters, digits and hyphens. Delivery ids become parts of Redis keys and
// TaskIDs, so nothing else is allowed; the webhook intake and the redelivery
// sweeper both apply this rule, so the sweeper never asks again for a
// delivery the intake would refuse.
func DeliveryID(id string) error {
	const what = "a delivery id"
	switch {
	case id == "" || len(id) > maxDelivery:
		return refuse(what, id, "it must be 1 to %d characters", maxDelivery)
	}
	if p := charProblem(id, func(r rune) bool { return isAlnum(r) || r == '-' }); p != "" {
		return refuse(what, id, "%s", p)
	}
	return nil
}

// ShortSHA is the seven-character form of a commit SHA people read (what
// GitHub shows beside a commit); a shorter value is returned as it is.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

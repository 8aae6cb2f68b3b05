package source

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

var (
	shaRE   = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)
	ownerRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$`)
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// maxBranchLen bounds branch names: git has no limit, but refs are files and
// GitHub refuses names longer than this.
const maxBranchLen = 255

// CheckSHA returns an error unless sha is a full commit id: 40 (SHA-1) or 64
// (SHA-256) lower-case hex digits. Abbreviations are refused because they are
// ambiguous and because anything else could be read by git as an option or a
// revision expression.
func CheckSHA(sha string) error {
	if !shaRE.MatchString(sha) {
		return fmt.Errorf("%q is not a full commit SHA (40 lower-case hex digits)", sha)
	}
	return nil
}

// CheckRepo returns an error unless fullName is "owner/name" as GitHub spells
// them. It refuses ".." and names starting with "-" so that the value can
// neither leave the server's path space nor become a git option.
func CheckRepo(fullName string) error {
	owner, name, ok := strings.Cut(fullName, "/")
	switch {
	case !ok || !ownerRE.MatchString(owner):
		return fmt.Errorf("%q is not a repository owner/name", fullName)
	case !nameRE.MatchString(name), name[0] == '-', strings.Contains(name, ".."), name == ".":
		// A leading "." is allowed: ".github" is a real and common repository name.
		return fmt.Errorf("%q is not a repository owner/name", fullName)
	}
	return nil
}

// CheckBranch returns an error unless branch is a branch name git accepts
// (the rules of git check-ref-format for refs/heads/<branch>) that also cannot
// be read as an option: it may not start with "-". Package repoconfig applies
// the same rule to .panda.yml.
func CheckBranch(branch string) error {
	if reason := branchProblem(branch); reason != "" {
		return fmt.Errorf("%q is not a valid branch name: %s", branch, reason)
	}
	return nil
}

func branchProblem(b string) string {
	switch {
	case b == "":
		return "it is empty"
	case len(b) > maxBranchLen:
		return fmt.Sprintf("it is longer than %d bytes", maxBranchLen)
	case !utf8.ValidString(b):
		return "it is not valid UTF-8"
	case b[0] == '-':
		return `it starts with "-"`
	case b == "@", b == "HEAD":
		return "it is reserved by git"
	case strings.HasPrefix(b, "/"), strings.HasSuffix(b, "/"), strings.Contains(b, "//"):
		return `it starts or ends with "/" or contains "//"`
	case strings.HasSuffix(b, "."):
		return `it ends with "."`
	case strings.Contains(b, ".."), strings.Contains(b, "@{"):
		return `it contains ".." or "@{"`
	}
	for _, r := range b {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return fmt.Sprintf("it contains %q", r)
		}
	}
	for _, part := range strings.Split(b, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return `a part starts with "." or ends with ".lock"`
		}
	}
	return ""
}

// checkBaseURL returns base without trailing slashes, or an error unless it is
// an http(s) URL without user info, query or fragment. Credentials in the URL
// would end up in .git/config and in git's messages.
func checkBaseURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("base URL is not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base URL %q is not http or https", u.Redacted())
	case u.User != nil:
		return "", fmt.Errorf("base URL must not carry credentials")
	case u.Host == "", u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return "", fmt.Errorf("base URL %q must be scheme://host[/path]", u.Redacted())
	}
	return strings.TrimRight(base, "/"), nil
}

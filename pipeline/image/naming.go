package image

import (
	"regexp"
	"strings"
)

var (
	invalidNameChars = regexp.MustCompile(`[^a-z0-9._-]+`)
	separatorRuns    = regexp.MustCompile(`[._-]{2,}`)
)

// RepositoryName returns the default ECR repository name for a GitHub repository,
// "{owner}-{repo}" lower-cased and made valid for ECR (names.ECRRepository):
// characters ECR does not allow become "-", runs of separators collapse to their
// first, the name neither starts nor ends with one, and a name that would start
// with a digit (owner "1password") gets the prefix "gh-", as ECR's
// documentation requires a letter first. Distinct GitHub repositories can map to the same name
// ("a-b/c" and "a/b-c"); configure ecr_repository where that matters.
func RepositoryName(owner, repo string) string {
	name := strings.ToLower(owner + "-" + repo)
	name = invalidNameChars.ReplaceAllString(name, "-")
	name = separatorRuns.ReplaceAllStringFunc(name, func(run string) string { return run[:1] })
	name = strings.Trim(name, "._-")
	if name != "" && (name[0] < 'a' || name[0] > 'z') {
		name = "gh-" + name
	}
	if len(name) > 256 {
		name = strings.TrimRight(name[:256], "._-")
	}
	return name
}

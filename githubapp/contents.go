package githubapp

import (
	"errors"
	"net/http"

	"github.com/google/go-github/v66/github"
)

// TooLarge reports whether an answer of the contents API (GetContents' file
// and error) says the file is too large for it. "Get repository content"
// (https://docs.github.com/en/rest/repos/contents#get-repository-content)
// serves files up to 1 MB fully, files of 1-100 MB only with the raw or object
// media types (the object type then has "content" empty and "encoding"
// "none"), larger files not at all. With the default media type GitHub
// answers 403 with an error whose code is "too_large" (recorded in
// hub4j/github-api#85, octokit/octokit.rb#1104, r-lib/usethis#1606). This is a
// refusal, not an outage: asking again gets the same answer.
func TooLarge(file *github.RepositoryContent, err error) bool {
	if err == nil {
		return file.GetEncoding() == "none"
	}
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil || er.Response.StatusCode != http.StatusForbidden {
		return false
	}
	for _, e := range er.Errors {
		if e.Code == "too_large" {
			return true
		}
	}
	return false
}

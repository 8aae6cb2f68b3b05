package source

import (
	"fmt"
	"net/url"
	"strings"
)

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

package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// APIToken is one caller of the /api/v1 routes: a name, which the audit log
// records as who acted, and its bearer token.
type APIToken struct {
	Name  string
	Token Secret
}

// DefaultTokenName names the caller of the single PANDA_API_TOKEN.
const DefaultTokenName = "default"

// minTokenLen is the shortest token accepted: 16 characters of a random
// token are at least 64 bits, out of reach of guessing over HTTP.
const minTokenLen = 16

var tokenNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,39}$`)

// apiTokens reads PANDA_API_TOKENS ("name:token,…") and PANDA_API_TOKEN (one
// caller named "default"). At least one token is required. Errors name the
// variable and the caller, never a token.
func (r *reader) apiTokens() []APIToken {
	var out []APIToken
	if single := r.str("PANDA_API_TOKEN", ""); single != "" {
		if len(single) < minTokenLen {
			r.fail("PANDA_API_TOKEN must be at least %d characters", minTokenLen)
		}
		out = append(out, APIToken{Name: DefaultTokenName, Token: Secret(single)})
	}
	list := r.str("PANDA_API_TOKENS", "")
	for i, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if list == "" {
			break
		}
		name, tok, ok := strings.Cut(item, ":")
		switch {
		case !ok || !tokenNamePattern.MatchString(name):
			r.fail("PANDA_API_TOKENS entry %d must be name:token, the name 1 to 40 of a-z, 0-9, '_', '.', '-'", i+1)
		case len(tok) < minTokenLen:
			r.fail("PANDA_API_TOKENS: the token of %s must be at least %d characters", name, minTokenLen)
		}
		out = append(out, APIToken{Name: name, Token: Secret(tok)})
	}
	if len(out) == 0 {
		r.fail("PANDA_API_TOKEN or PANDA_API_TOKENS is required")
	}
	names, tokens := map[string]bool{}, map[Secret]bool{}
	for _, t := range out {
		if names[t.Name] {
			r.fail("PANDA_API_TOKENS names %s twice (PANDA_API_TOKEN is named %s)", t.Name, DefaultTokenName)
		}
		if tokens[t.Token] {
			// Two callers with one token could not be told apart in the audit log.
			r.fail("PANDA_API_TOKENS: the token of %s is also another caller's", t.Name)
		}
		names[t.Name], tokens[t.Token] = true, true
	}
	return out
}

// corsOrigins reads PANDA_CORS_ORIGINS: a comma-separated list of origins
// (scheme://host[:port], as a browser sends in Origin), each http or https,
// without path, query or credentials. "*" is refused: the API takes bearer
// tokens, and which pages may use it should be a list someone wrote down.
func (r *reader) corsOrigins() []string {
	v := r.str("PANDA_CORS_ORIGINS", "")
	if v == "" {
		return nil
	}
	var out []string
	for i, o := range strings.Split(v, ",") {
		o = strings.TrimSpace(o)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || o != strings.ToLower(o) {
			// The position, not the value: a URL with userinfo carries a password.
			r.fail("PANDA_CORS_ORIGINS entry %d is not an origin like https://dashboard.example.com (lowercase, no path)", i+1)
			continue
		}
		out = append(out, o)
	}
	return out
}

// days reads a duration that may also be given in days ("400d"), which Go's
// durations lack and retention periods are naturally written in.
func (r *reader) days(key string, def time.Duration) time.Duration {
	v := r.str(key, "")
	if n, ok := strings.CutSuffix(v, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 || d > 100*365 {
			r.fail("%s must be a positive duration such as 400d or 9600h", key)
			return def
		}
		return time.Duration(d) * 24 * time.Hour
	}
	return r.duration(key, def)
}

// String lists the callers' names only.
func (t APIToken) String() string { return fmt.Sprintf("%s:%s", t.Name, redacted) }

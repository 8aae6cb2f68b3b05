package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// passEnv lists the only variables git inherits from the worker's environment:
// what it needs to find programs and to go through a proxy. Everything else
// (GIT_DIR, GIT_SSH_COMMAND, GIT_ASKPASS, SSH_ASKPASS, GIT_CONFIG_*, ...) could
// redirect git or make it run a program, so it is dropped.
var passEnv = []string{
	"PATH", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy",
}

// git runs git commands for one clone with a hardened environment.
type git struct {
	bin     string
	dir     string
	env     []string
	secrets []string // scrubbed from everything git prints
}

// newGit prepares git for a clone into dir, with home as the (empty) HOME.
// The token travels only as an HTTP header set through GIT_CONFIG_COUNT:
//   - not in argv: the command line of every process is world-readable in
//     /proc/<pid>/cmdline and shown by ps, while /proc/<pid>/environ is readable
//     only by the same user;
//   - not in the URL: git writes remote URLs to .git/config, which lands in the
//     build context, and prints them in its messages;
//   - scoped to the base URL (http.<base>/.extraHeader), so a submodule or any
//     other URL on another host never receives it.
func newGit(bin, dir, home, base, token string) *git {
	g := &git{bin: bin, dir: dir}
	cfg := [][2]string{
		// Only the scheme of the base URL: no file://, ext::, ssh or git://, which
		// a hostile .gitmodules could otherwise use to read local files or run commands.
		{"protocol.allow", "never"},
		{"protocol." + schemeOf(base) + ".allow", "always"},
		// Hooks would be code from outside Panda; our fresh repository has none, and
		// this keeps it so.
		{"core.hooksPath", "/dev/null"},
		{"core.fsmonitor", "false"},
		{"credential.helper", ""},
		// A redirect would take the request, and maybe the header, elsewhere.
		{"http.followRedirects", "false"},
		{"submodule.recurse", "false"},
		{"fetch.recurseSubmodules", "false"},
		{"protocol.version", "2"},
		{"gc.auto", "0"},
		{"maintenance.auto", "false"},
		{"advice.detachedHead", "false"},
		{"init.defaultBranch", "main"},
	}
	if token != "" {
		header := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
		cfg = append(cfg, [2]string{"http." + base + "/.extraHeader", "Authorization: " + header})
		g.secrets = []string{token, header[len("Basic "):]}
	}
	g.env = hardenedEnv(home, cfg)
	return g
}

func schemeOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return "https"
	}
	return u.Scheme
}

// hardenedEnv builds git's whole environment: no system or user configuration
// (HOME is an empty directory), no terminal prompt and no askpass program, so a
// 401 fails at once instead of waiting for a password, and messages in English
// so they can be classified.
func hardenedEnv(home string, cfg [][2]string) []string {
	env := []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_PROTOCOL_FROM_USER=0",
		"LC_ALL=C",
		"GIT_CONFIG_COUNT=" + strconv.Itoa(len(cfg)),
	}
	for i, kv := range cfg {
		env = append(env,
			fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]),
			fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// gitError is a failed git command. Stderr has been scrubbed of the token.
type gitError struct {
	Cmd    string
	Stderr string
	Err    error
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", e.Cmd, e.Err, e.Stderr)
}

func (e *gitError) Unwrap() error { return e.Err }

// run runs git with args (argv only, never a shell) in g.dir and returns its
// trimmed stdout. Callers put "--" or --end-of-options before positional
// arguments that came from outside, even validated ones.
func (g *git) run(ctx context.Context, args ...string) (string, error) {
	// #nosec G204 -- no shell; see above for arguments from outside.
	cmd := exec.CommandContext(ctx, g.bin, args...)
	cmd.Dir = g.dir
	cmd.Env = g.env
	// git-remote-http is a child of git: a cancel kills both (killTree), and
	// should one survive anyway holding the pipes open, do not wait for it
	// forever.
	killTree(cmd)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", &gitError{Cmd: args[0], Stderr: g.scrub(stderr.String()), Err: err}
	}
	return strings.TrimSpace(stdout.String()), nil
}

// scrub removes the token and the header derived from it from s. Git is not
// expected to print either, but a curl or git verbose message must not carry
// them into an error, a log or a check run.
func (g *git) scrub(s string) string {
	for _, secret := range g.secrets {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	return strings.TrimSpace(s)
}

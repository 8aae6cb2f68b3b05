package names

import (
	"path"
	"strings"
)

// maxEnvironment bounds environment names. They are keys in .panda.yml and
// parts of Redis keys, lock names and GitHub Deployment environments (which
// GitHub limits to 255 characters); 63 keeps them readable in a check run
// title.
const maxEnvironment = 63

// Environment returns nil if name is an environment name: 1 to 63 lower-case
// ASCII letters, digits, "-" and "_", starting with a letter or digit. This is
// Panda's own rule, the one for environments in .panda.yml; a /deploy comment
// and the API name environments by it. Lower case only, so that "Prod" and
// "prod" cannot be two environments that read alike.
func Environment(name string) error {
	const what = "an environment name"
	switch {
	case name == "":
		return refuse(what, name, "it is empty")
	case len(name) > maxEnvironment:
		return refuse(what, name, "use at most %d characters", maxEnvironment)
	case !isLower(rune(name[0])) && !isDigit(rune(name[0])),
		charProblem(name, func(r rune) bool { return isLower(r) || isDigit(r) || r == '-' || r == '_' }) != "":
		return refuse(what, name, "use 1 to %d lower-case letters, digits, - and _, starting with a letter or digit", maxEnvironment)
	}
	return nil
}

// maxConnection bounds connection names. A name becomes part of the STS role
// session name "panda-NAME", which AssumeRole limits to 64 characters of
// [\w+=,.@-] (sts AssumeRoleInput.RoleSessionName), so 58 would be the most;
// 40 leaves room.
const maxConnection = 40

// Connection returns nil if name may name a stored AWS connection: 1 to 40
// ASCII letters, digits, ".", "-" and "_", starting with a letter or digit.
// Names become parts of Redis keys and of STS role session names, so nothing
// else is allowed.
func Connection(name string) error {
	const what = "a connection name"
	switch {
	case name == "":
		return refuse(what, name, "it is empty")
	case len(name) > maxConnection:
		return refuse(what, name, "use at most %d characters", maxConnection)
	case !isAlnum(rune(name[0])):
		return refuse(what, name, "it must start with a letter or digit")
	}
	if p := charProblem(name, func(r rune) bool { return isAlnum(r) || r == '.' || r == '-' || r == '_' }); p != "" {
		return refuse(what, name, "%s", p)
	}
	return nil
}

// maxPath bounds a Dockerfile path: Linux's PATH_MAX.
const maxPath = 4096

// Dockerfile returns the cleaned form of p ("./docker/Dockerfile" becomes
// "docker/Dockerfile") if p names a file inside the repository: relative, no
// ".." part, not the repository itself, no NUL, control or format character,
// and not starting with "-" (it is passed to tools that could read it as an
// option). Symbolic links are resolved when the file is opened, not here.
func Dockerfile(p string) (string, error) {
	const what = "a Dockerfile path"
	switch {
	case p == "":
		return "", refuse(what, p, "it is empty")
	case len(p) > maxPath:
		return "", refuse(what, p, "it is too long")
	case invisible(p) >= 0:
		return "", refuse(what, p, "it must not contain NUL, line breaks or other control characters")
	case strings.HasPrefix(p, "/"):
		return "", refuse(what, p, "it must be relative to the repository root, not absolute")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", refuse(what, p, `it must be a file inside the repository (no "..")`)
		}
	}
	clean := path.Clean(p)
	switch {
	case clean == ".":
		return "", refuse(what, p, "it must name a file, not the repository root")
	case strings.HasPrefix(clean, "-"):
		return "", refuse(what, p, `it must not start with "-"`)
	}
	return clean, nil
}

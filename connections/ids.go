package connections

import (
	"crypto/rand"
	"regexp"
)

// A connection has an id, `conn_` and 16 lowercase letters or digits, which
// is what the seed API answers and takes back (gitHubConnectionId,
// awsConnectionId), and keeps its Panda key as well: the name of an AWS
// connection (`.panda.yml` `aws: prod`) and the owner/name of a GitHub one.
// An AWS connection registered without a name (the seed's shape) is named by
// its id, so `aws: conn_…` works in .panda.yml too.

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

var idPattern = regexp.MustCompile(`^conn_[a-z0-9]{16}$`)

// NewID returns a fresh connection id (about 82 random bits).
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	for i := range b {
		// 256 = 7·36 + 4: the bias towards the first four letters is 1/64, harmless for an id.
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return "conn_" + string(b)
}

// ValidID reports whether id has the shape of a connection id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

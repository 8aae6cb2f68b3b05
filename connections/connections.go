// Package connections keeps the AWS and GitHub connections registered through
// the API in Redis, with every secret sealed by a secrets.Box (AES-256-GCM
// under PANDA_ENCRYPTION_KEY), and turns a stored AWS connection into AWS
// credentials for the worker.
//
// It lives beside package api, which registers connections, and is imported by
// the worker, which uses them; it knows nothing of HTTP.
package connections

import (
	"errors"
	"time"

	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/names"
)

// ErrNotFound is returned when no connection has the name asked for.
var ErrNotFound = errors.New("connection not found")

// AWS is a registered AWS account: a role to assume (preferred) with an
// optional external id, or long-term access keys. .panda.yml's `aws:` names it.
// The secret fields are config.Secret, so printing or logging an AWS redacts them.
type AWS struct {
	// ID is the connection's id (see NewID), set by the caller before PutAWS.
	ID string
	// Name identifies the connection, like "prod"; see ValidName.
	Name string
	// Region, if set, overrides the worker's default region.
	Region string
	// RoleARN is the role to assume. Either RoleARN or AccessKeyID is set.
	RoleARN string
	// ExternalID, if set, is passed to AssumeRole (the confused-deputy guard).
	ExternalID      config.Secret
	AccessKeyID     config.Secret
	SecretAccessKey config.Secret
	// SessionToken goes with temporary keys (ASIA…); empty for long-term ones.
	SessionToken config.Secret
	// AccountID is the account STS answered when the connection was verified.
	AccountID string
	CreatedAt time.Time
}

// UsesRole reports whether the connection assumes a role rather than using keys.
func (c AWS) UsesRole() bool { return c.RoleARN != "" }

// GitHub is a registered repository: served through an installation of the
// App, or, for installations without the App, through a token.
type GitHub struct {
	// ID is the connection's id (NewID: conn_…), if it was given one; the
	// API's gitHubConnectionId names it. GitHubByID finds it.
	ID string
	// Repo is owner/name.
	Repo string
	// Branch is the branch deployed when a request names none.
	Branch string
	// InstallationID is the App installation that covers Repo, or 0 with a Token.
	InstallationID int64
	// Token is a GitHub token with access to Repo, when there is no installation.
	Token     config.Secret
	CreatedAt time.Time
}

// ValidName reports whether name may name an AWS connection (names.Connection).
func ValidName(name string) bool { return names.Connection(name) == nil }

// ValidRepo reports whether repo is the owner/name of a GitHub repository
// (names.Repo).
func ValidRepo(repo string) bool { return names.Repo(repo) == nil }

package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/names"
)

// awsBody is the body of POST /api/v1/connect/aws: a role ARN (preferred) with
// an optional external id, or an access key pair with an optional session
// token. The seed sends {region, accessKeyId, secretAccessKey, sessionToken?}
// and no name: such a connection is named by its id.
type awsBody struct {
	Name            string `json:"name"`
	Region          string `json:"region"`
	RoleARN         string `json:"roleArn"`
	ExternalID      string `json:"externalId"`
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken"`
}

var (
	externalIDPattern = regexp.MustCompile(`^[\w+=,.@:/-]{2,1000}$`) // AWS allows 1224; Go regexp repeats stop at 1000
	accessKeyPattern  = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
)

// maxSessionToken bounds sessionToken. STS documents no maximum for
// Credentials.SessionToken; real ones are about 1 KB and grow with session
// tags, so 8 KiB leaves room while keeping the field bounded.
const maxSessionToken = 8 << 10

func (b awsBody) validate() error {
	if err := firstBad(
		badName("name", optional(names.Connection, b.Name)),
		badName("region", optional(names.Region, b.Region)),
	); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(b.Name, "conn_"):
		return badField("name", "must not start with conn_: connection ids do")
	case b.RoleARN != "" && (b.AccessKeyID != "" || b.SecretAccessKey != "" || b.SessionToken != ""):
		return badField("roleArn", "give either roleArn or accessKeyId and secretAccessKey, not both")
	case b.RoleARN != "":
		return b.validateRole()
	case b.ExternalID != "":
		return badField("externalId", "only goes with roleArn")
	case b.AccessKeyID == "":
		return badField("roleArn", "required (or accessKeyId and secretAccessKey)")
	case !accessKeyPattern.MatchString(b.AccessKeyID):
		return badField("accessKeyId", "not an AWS access key id")
	case b.SecretAccessKey == "" || len(b.SecretAccessKey) > 128:
		return badField("secretAccessKey", "required with accessKeyId")
	case len(b.SessionToken) > maxSessionToken:
		return badField("sessionToken", "longer than %d bytes", maxSessionToken)
	}
	return nil
}

// validateRole checks the role ARN and external id of a role connection.
func (b awsBody) validateRole() error {
	role, err := names.RoleARN(b.RoleARN)
	if err != nil {
		return badName("roleArn", err)
	}
	if p, _ := names.Partition(b.Region); b.Region != "" && p != role.Partition {
		// STS in one partition cannot assume a role of another.
		return badField("roleArn", "is in partition %s, but region %s is in %s", role.Partition, b.Region, p)
	}
	if b.ExternalID != "" && !externalIDPattern.MatchString(b.ExternalID) {
		return badField("externalId", "2 to 1000 letters, digits or +=,.@:/-")
	}
	return nil
}

func (s *server) connectAWS(w http.ResponseWriter, r *http.Request) error {
	var b awsBody
	if err := decode(w, r, &b); err != nil {
		return err
	}
	if err := b.validate(); err != nil {
		return err
	}
	if s.AWSVerifier == nil {
		return &Error{Status: http.StatusServiceUnavailable, Message: "AWS verification is not configured"}
	}
	c := connections.AWS{ID: connections.NewID(), Name: b.Name, Region: b.Region, RoleARN: b.RoleARN,
		ExternalID: config.Secret(b.ExternalID), AccessKeyID: config.Secret(b.AccessKeyID),
		SecretAccessKey: config.Secret(b.SecretAccessKey), SessionToken: config.Secret(b.SessionToken)}
	if c.Name == "" {
		c.Name = c.ID
	}
	account, err := s.verifyAWS(r.Context(), c)
	if err != nil {
		return err
	}
	c.AccountID = account
	if err := s.Connections.PutAWS(r.Context(), c); err != nil {
		return err
	}
	s.record(r.Context(), audit.Entry{Action: audit.ConnectionCreated, Outcome: "created", Connection: "aws:" + c.Name,
		ConnectionID: c.ID, AccountID: account})
	return writeOK(w, http.StatusOK, "AWS connection "+c.Name+" verified and stored", awsConnection{
		ConnectionID: c.ID, Region: c.Region, AccountID: account, ID: c.Name, Name: c.Name, Kind: "aws", Auth: awsAuth(c.UsesRole())})
}

func awsAuth(role bool) string {
	if role {
		return "role"
	}
	return "keys"
}

func (s *server) verifyAWS(ctx context.Context, c connections.AWS) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	account, err := s.AWSVerifier.Verify(ctx, c)
	field := "accessKeyId"
	if c.UsesRole() {
		field = "roleArn"
	}
	switch {
	case errors.Is(err, connections.ErrRejected):
		return "", badField(field, "%v", err)
	case err != nil:
		s.log.Warn("verify AWS connection", "connection", c.Name, "err", err)
		return "", &Error{Status: http.StatusBadGateway, Message: "could not verify the connection with AWS STS; try again"}
	}
	return account, nil
}

// githubBody is the body of POST /api/v1/connect/github: a repository served
// through an App installation, or through a token. The seed sends
// {owner, repo, branch, token} with repo the bare name; Panda's own shape is
// {repo: "owner/name", installationId | token, branch?}. With owner set, repo
// is the bare name.
type githubBody struct {
	Owner          string `json:"owner"`
	Repo           string `json:"repo"`
	Branch         string `json:"branch"`
	InstallationID int64  `json:"installationId"`
	Token          string `json:"token"`
}

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_]{20,255}$`)

// fullName is owner/name in either shape of the body.
func (b githubBody) fullName() string {
	if b.Owner != "" {
		return b.Owner + "/" + b.Repo
	}
	return b.Repo
}

func (b githubBody) validate() error {
	switch {
	case b.Owner != "" && strings.Contains(b.Repo, "/"):
		return badField("repo", "with owner, the repository name alone")
	case !connections.ValidRepo(b.fullName()):
		return badField("repo", "required: owner and repo of a GitHub repository (or repo as owner/name)")
	case b.Branch != "" && names.Branch(b.Branch) != nil:
		return badName("branch", names.Branch(b.Branch))
	case b.InstallationID != 0 && b.Token != "":
		return badField("token", "give either installationId or token, not both")
	case b.InstallationID < 0:
		return badField("installationId", "must be positive")
	case b.InstallationID == 0 && b.Token == "":
		return badField("installationId", "required (or token)")
	case b.Token != "" && !tokenPattern.MatchString(b.Token):
		return badField("token", "not a GitHub token")
	}
	return nil
}

func (s *server) connectGitHub(w http.ResponseWriter, r *http.Request) error {
	var b githubBody
	if err := decode(w, r, &b); err != nil {
		return err
	}
	if err := b.validate(); err != nil {
		return err
	}
	c := connections.GitHub{ID: connections.NewID(), Repo: b.fullName(), Branch: b.Branch,
		InstallationID: b.InstallationID, Token: config.Secret(b.Token)}
	if err := s.checkGitHub(r.Context(), c); err != nil {
		return err
	}
	if err := s.Connections.PutGitHub(r.Context(), c); err != nil {
		return err
	}
	s.record(r.Context(), audit.Entry{Action: audit.ConnectionCreated, Outcome: "created", Connection: "github:" + c.Repo,
		ConnectionID: c.ID, Repo: c.Repo})
	return writeOK(w, http.StatusOK, "GitHub connection "+c.Repo+" stored", githubConnectionOf(connections.Summary{
		ConnectionID: c.ID, ID: c.Repo, Branch: c.Branch, InstallationID: c.InstallationID, Auth: githubAuth(c.Token != "")}))
}

// checkGitHub refuses a connection that cannot work: an installation Panda
// knows that does not cover the repository (one it has no record of yet, whose
// event predates this Redis, is taken on trust), or a token GitHub refuses.
func (s *server) checkGitHub(ctx context.Context, c connections.GitHub) error {
	if c.InstallationID != 0 {
		serves, known, err := s.Store.Serves(ctx, c.InstallationID, c.Repo)
		if err != nil {
			return err
		}
		if known && !serves {
			return badField("installationId", "installation %d does not cover %s", c.InstallationID, c.Repo)
		}
		return nil
	}
	if s.GitHubVerifier == nil {
		// As before verification existed: stored, and refused by GitHub at the
		// first clone if wrong. The lead wires a verifier (connections).
		s.log.Warn("GitHub token stored unverified: no verifier configured", "repo", c.Repo)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := s.GitHubVerifier.VerifyGitHub(ctx, c)
	switch {
	case errors.Is(err, connections.ErrRejected), errors.Is(err, connections.ErrTokenRejected):
		return badField("token", "GitHub refused the token for %s", c.Repo)
	case errors.Is(err, connections.ErrNoAccess):
		return badField("token", "the token cannot read %s: the repository does not exist or the token was not granted access to it", c.Repo)
	case err != nil:
		s.log.Warn("verify GitHub connection", "repo", c.Repo, "err", err)
		return &Error{Status: http.StatusBadGateway, Message: "could not verify the token with GitHub; try again"}
	}
	return nil
}

func githubAuth(token bool) string {
	if token {
		return "token"
	}
	return "installation"
}

// awsConnection is one AWS connection as answered: the seed's
// {connectionId, region, accountId} and Panda's name, kind and auth. id is
// Panda's key (the name), kept for its existing clients.
type awsConnection struct {
	ConnectionID  string   `json:"connectionId"`
	Region        string   `json:"region"`
	AccountID     string   `json:"accountId"`
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Kind          string   `json:"kind"`
	Auth          string   `json:"auth"`
	RoleARN       string   `json:"roleArn,omitempty"`
	HasExternalID bool     `json:"hasExternalId,omitempty"`
	CreatedAt     *utcTime `json:"createdAt,omitempty"`
}

// githubConnection is one GitHub connection as answered: the seed's
// {connectionId, owner, repo, branch} (repo the bare name) and Panda's id
// (owner/name), kind and auth.
type githubConnection struct {
	ConnectionID   string   `json:"connectionId"`
	Owner          string   `json:"owner"`
	Repo           string   `json:"repo"`
	Branch         string   `json:"branch"`
	ID             string   `json:"id"`
	Kind           string   `json:"kind"`
	Auth           string   `json:"auth"`
	InstallationID int64    `json:"installationId,omitempty"`
	CreatedAt      *utcTime `json:"createdAt,omitempty"`
}

// connectionID is the id a listing shows: a connection stored before ids
// existed has none, and its Panda key (which every route accepts) stands in.
func connectionID(c connections.Summary) string {
	if c.ConnectionID != "" {
		return c.ConnectionID
	}
	return c.ID
}

func githubConnectionOf(c connections.Summary) githubConnection {
	owner, name, _ := strings.Cut(c.ID, "/")
	return githubConnection{ConnectionID: connectionID(c), Owner: owner, Repo: name, Branch: c.Branch,
		ID: c.ID, Kind: "github", Auth: c.Auth, InstallationID: c.InstallationID, CreatedAt: timePtr(c.CreatedAt)}
}

func awsConnectionOf(c connections.Summary) awsConnection {
	return awsConnection{ConnectionID: connectionID(c), Region: c.Region, AccountID: c.AccountID, ID: c.ID, Name: c.ID,
		Kind: "aws", Auth: c.Auth, RoleARN: c.RoleARN, HasExternalID: c.HasExternalID, CreatedAt: timePtr(c.CreatedAt)}
}

// connectionList is the answer of GET /api/v1/connections, in the seed's shape.
type connectionList struct {
	GitHub []githubConnection `json:"github"`
	AWS    []awsConnection    `json:"aws"`
}

func (s *server) listConnections(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Connections.List(r.Context())
	if err != nil {
		return err
	}
	out := connectionList{GitHub: []githubConnection{}, AWS: []awsConnection{}}
	for _, c := range list {
		if c.Kind == "aws" {
			out.AWS = append(out.AWS, awsConnectionOf(c))
		} else {
			out.GitHub = append(out.GitHub, githubConnectionOf(c))
		}
	}
	return writeOK(w, http.StatusOK, "", out)
}

// findConnection returns the Panda key (AWS name or owner/name) of the
// connection of kind that ref names: its conn_ id or that key itself.
// ErrNotFound when there is none. Ids are found by listing, which never
// decrypts: a service has a handful of connections, not thousands.
func (s *server) findConnection(ctx context.Context, kind, ref string) (string, error) {
	if !connections.ValidID(ref) {
		return ref, nil
	}
	list, err := s.Connections.List(ctx)
	if err != nil {
		return "", err
	}
	for _, c := range list {
		if c.Kind == kind && c.ConnectionID == ref {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("connection %s: %w", ref, connections.ErrNotFound)
}

func (s *server) deleteAWS(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("name")
	if !connections.ValidName(ref) {
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	}
	name, err := s.findConnection(r.Context(), "aws", ref)
	if err != nil {
		return err
	}
	if err := s.Connections.DeleteAWS(r.Context(), name); err != nil {
		return err
	}
	s.record(r.Context(), audit.Entry{Action: audit.ConnectionDeleted, Outcome: "deleted", Connection: "aws:" + name})
	return writeOK(w, http.StatusOK, "AWS connection "+name+" deleted", nil)
}

func (s *server) deleteGitHub(w http.ResponseWriter, r *http.Request) error {
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	if names.Repo(repo) != nil {
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	}
	if err := s.Connections.DeleteGitHub(r.Context(), repo); err != nil {
		return err
	}
	s.record(r.Context(), audit.Entry{Action: audit.ConnectionDeleted, Outcome: "deleted", Connection: "github:" + repo, Repo: repo})
	return writeOK(w, http.StatusOK, "GitHub connection "+repo+" deleted", nil)
}

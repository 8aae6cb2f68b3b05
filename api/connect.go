package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/names"
)

// awsBody is the body of POST /api/v1/connect/aws: a role ARN (preferred) with
// an optional external id, or an access key pair.
type awsBody struct {
	Name            string `json:"name"`
	Region          string `json:"region"`
	RoleARN         string `json:"roleArn"`
	ExternalID      string `json:"externalId"`
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

var (
	externalIDPattern = regexp.MustCompile(`^[\w+=,.@:/-]{2,1000}$`) // AWS allows 1224; Go regexp repeats stop at 1000
	accessKeyPattern  = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
)

func (b awsBody) validate() error {
	if err := firstBad(
		badName("name", names.Connection(b.Name)),
		badName("region", optional(names.Region, b.Region)),
	); err != nil {
		return err
	}
	switch {
	case b.RoleARN != "" && (b.AccessKeyID != "" || b.SecretAccessKey != ""):
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
	c := connections.AWS{Name: b.Name, Region: b.Region, RoleARN: b.RoleARN,
		ExternalID: config.Secret(b.ExternalID), AccessKeyID: config.Secret(b.AccessKeyID),
		SecretAccessKey: config.Secret(b.SecretAccessKey)}
	account, err := s.verifyAWS(r.Context(), c)
	if err != nil {
		return err
	}
	c.AccountID = account
	if err := s.Connections.PutAWS(r.Context(), c); err != nil {
		return err
	}
	return writeOK(w, http.StatusCreated, "AWS connection "+c.Name+" verified and stored",
		map[string]any{"id": c.Name, "kind": "aws", "accountId": account})
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
// through an App installation, or through a token.
type githubBody struct {
	Repo           string `json:"repo"`
	InstallationID int64  `json:"installationId"`
	Token          string `json:"token"`
}

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_]{20,255}$`)

func (b githubBody) validate() error {
	switch {
	case b.Repo == "":
		return badField("repo", "required: owner/name of a GitHub repository")
	case names.Repo(b.Repo) != nil:
		return badName("repo", names.Repo(b.Repo))
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
	if b.InstallationID != 0 {
		// An installation Panda knows must cover the repository; one it has no
		// record of yet (its event predates this Redis) is taken on trust.
		serves, known, err := s.Store.Serves(r.Context(), b.InstallationID, b.Repo)
		if err != nil {
			return err
		}
		if known && !serves {
			return badField("installationId", "installation %d does not cover %s", b.InstallationID, b.Repo)
		}
	}
	c := connections.GitHub{Repo: b.Repo, InstallationID: b.InstallationID, Token: config.Secret(b.Token)}
	if err := s.Connections.PutGitHub(r.Context(), c); err != nil {
		return err
	}
	auth := "installation"
	if b.Token != "" {
		auth = "token"
	}
	return writeOK(w, http.StatusCreated, "GitHub connection "+b.Repo+" stored",
		map[string]any{"id": b.Repo, "kind": "github", "auth": auth})
}

func (s *server) listConnections(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Connections.List(r.Context())
	if err != nil {
		return err
	}
	return writeOK(w, http.StatusOK, "", list)
}

func (s *server) deleteAWS(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if names.Connection(name) != nil {
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	}
	if err := s.Connections.DeleteAWS(r.Context(), name); err != nil {
		return err
	}
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
	return writeOK(w, http.StatusOK, "GitHub connection "+repo+" deleted", nil)
}

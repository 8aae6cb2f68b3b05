package connections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/secrets"
)

const (
	awsKey    = "panda:conn:aws"
	githubKey = "panda:conn:github"
	// githubIDs maps a GitHub connection's id to its repository.
	githubIDs = "panda:conn:github:ids"
)

// Store keeps connections in two Redis hashes. Every method is safe for
// concurrent use by any number of processes.
type Store struct {
	rdb redis.UniversalClient
	box *secrets.Box
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// NewStore returns a Store on rdb sealing secrets with box. box may be nil
// (no PANDA_ENCRYPTION_KEY): connections without secrets are still stored,
// and storing or reading one with secrets fails with secrets.ErrNoKey.
func NewStore(rdb redis.UniversalClient, box *secrets.Box) *Store {
	return &Store{rdb: rdb, box: box}
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// record is the stored form: public fields in clear, secrets sealed together.
type record struct {
	Name           string    `json:"name,omitempty"`
	ID             string    `json:"id,omitempty"`
	Repo           string    `json:"repo,omitempty"`
	Branch         string    `json:"branch,omitempty"`
	Region         string    `json:"region,omitempty"`
	RoleARN        string    `json:"roleArn,omitempty"`
	AccountID      string    `json:"accountId,omitempty"`
	InstallationID int64     `json:"installationId,omitempty"`
	HasExternalID  bool      `json:"hasExternalId,omitempty"`
	HasToken       bool      `json:"hasToken,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	Sealed         []byte    `json:"sealed,omitempty"`
}

type sealedFields struct {
	ExternalID      string `json:"externalId,omitempty"`
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	SessionToken    string `json:"sessionToken,omitempty"`
	Token           string `json:"token,omitempty"`
}

// ad binds a sealed value to its record, so it cannot be copied into another.
func ad(hash, field string) []byte { return []byte(hash + ":" + field) }

func (s *Store) seal(hash, field string, f sealedFields) ([]byte, error) {
	if f == (sealedFields{}) {
		return nil, nil
	}
	if s.box == nil {
		return nil, secrets.ErrNoKey
	}
	plain, err := json.Marshal(f) // #nosec G117 -- marshalled only to be sealed with AES-256-GCM below; never stored or sent in the clear
	if err != nil {
		return nil, fmt.Errorf("encode secrets: %w", err)
	}
	return s.box.Seal(plain, ad(hash, field))
}

func (s *Store) open(hash, field string, sealed []byte) (sealedFields, error) {
	var f sealedFields
	if len(sealed) == 0 {
		return f, nil
	}
	if s.box == nil {
		return f, secrets.ErrNoKey
	}
	plain, err := s.box.Open(sealed, ad(hash, field))
	if err != nil {
		return f, fmt.Errorf("open secrets of %s: %w", field, err)
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		return f, fmt.Errorf("decode secrets of %s: %w", field, err)
	}
	return f, nil
}

// PutAWS stores c under c.Name, replacing any connection of that name.
// It fails with secrets.ErrNoKey when c has secrets and the Store has no key.
func (s *Store) PutAWS(ctx context.Context, c AWS) error {
	sealed, err := s.seal(awsKey, c.Name, sealedFields{
		ExternalID:      c.ExternalID.Reveal(),
		AccessKeyID:     c.AccessKeyID.Reveal(),
		SecretAccessKey: c.SecretAccessKey.Reveal(),
		SessionToken:    c.SessionToken.Reveal(),
	})
	if err != nil {
		return err
	}
	rec := record{ID: c.ID, Name: c.Name, Region: c.Region, RoleARN: c.RoleARN, AccountID: c.AccountID,
		HasExternalID: c.ExternalID != "", CreatedAt: s.now().UTC(), Sealed: sealed}
	return s.put(ctx, awsKey, c.Name, rec)
}

// PutGitHub stores c under c.Repo, replacing any connection of that repository.
// It fails with secrets.ErrNoKey when c has a token and the Store has no key.
func (s *Store) PutGitHub(ctx context.Context, c GitHub) error {
	sealed, err := s.seal(githubKey, c.Repo, sealedFields{Token: c.Token.Reveal()})
	if err != nil {
		return err
	}
	rec := record{ID: c.ID, Repo: c.Repo, Branch: c.Branch, InstallationID: c.InstallationID, HasToken: c.Token != "",
		CreatedAt: s.now().UTC(), Sealed: sealed}
	if err := s.put(ctx, githubKey, c.Repo, rec); err != nil {
		return err
	}
	if c.ID == "" {
		return nil
	}
	if err := s.rdb.HSet(ctx, githubIDs, c.ID, c.Repo).Err(); err != nil {
		return fmt.Errorf("store connection id %s: %w", c.ID, err)
	}
	return nil
}

// GitHubByID returns the GitHub connection with id (conn_…), or ErrNotFound,
// also when its repository was connected again since under another id.
func (s *Store) GitHubByID(ctx context.Context, id string) (GitHub, error) {
	repo, err := s.rdb.HGet(ctx, githubIDs, id).Result()
	if errors.Is(err, redis.Nil) {
		return GitHub{}, fmt.Errorf("connection %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return GitHub{}, fmt.Errorf("read connection %s: %w", id, err)
	}
	c, err := s.GitHub(ctx, repo)
	if err != nil {
		return GitHub{}, err
	}
	if c.ID != id {
		return GitHub{}, fmt.Errorf("connection %s: %w", id, ErrNotFound)
	}
	return c, nil
}

func (s *Store) put(ctx context.Context, hash, field string, rec record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode connection %s: %w", field, err)
	}
	if err := s.rdb.HSet(ctx, hash, field, data).Err(); err != nil {
		return fmt.Errorf("store connection %s: %w", field, err)
	}
	return nil
}

func (s *Store) get(ctx context.Context, hash, field string) (record, error) {
	var rec record
	data, err := s.rdb.HGet(ctx, hash, field).Bytes()
	if errors.Is(err, redis.Nil) {
		return rec, fmt.Errorf("connection %s: %w", field, ErrNotFound)
	}
	if err != nil {
		return rec, fmt.Errorf("read connection %s: %w", field, err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("decode connection %s: %w", field, err)
	}
	return rec, nil
}

// AWS returns the AWS connection called name with its secrets, or ErrNotFound.
func (s *Store) AWS(ctx context.Context, name string) (AWS, error) {
	rec, err := s.get(ctx, awsKey, name)
	if err != nil {
		return AWS{}, err
	}
	f, err := s.open(awsKey, name, rec.Sealed)
	if err != nil {
		return AWS{}, err
	}
	return awsFrom(rec, f), nil
}

func awsFrom(rec record, f sealedFields) AWS {
	return AWS{ID: rec.ID, Name: rec.Name, Region: rec.Region, RoleARN: rec.RoleARN, AccountID: rec.AccountID,
		ExternalID: config.Secret(f.ExternalID), AccessKeyID: config.Secret(f.AccessKeyID),
		SecretAccessKey: config.Secret(f.SecretAccessKey), SessionToken: config.Secret(f.SessionToken),
		CreatedAt: rec.CreatedAt}
}

// GitHub returns the connection of repo with its token, or ErrNotFound.
func (s *Store) GitHub(ctx context.Context, repo string) (GitHub, error) {
	rec, err := s.get(ctx, githubKey, repo)
	if err != nil {
		return GitHub{}, err
	}
	f, err := s.open(githubKey, repo, rec.Sealed)
	if err != nil {
		return GitHub{}, err
	}
	return GitHub{ID: rec.ID, Repo: rec.Repo, Branch: rec.Branch, InstallationID: rec.InstallationID, Token: config.Secret(f.Token),
		CreatedAt: rec.CreatedAt}, nil
}

// Summary describes a connection without any of its secrets, for listings.
type Summary struct {
	Kind           string `json:"kind"` // aws or github
	ID             string `json:"id"`   // the AWS name, or the repository
	Auth           string `json:"auth"` // role, keys, installation or token
	Region         string `json:"region,omitempty"`
	RoleARN        string `json:"roleArn,omitempty"`
	HasExternalID  bool   `json:"hasExternalId,omitempty"`
	AccountID      string `json:"accountId,omitempty"`
	InstallationID int64  `json:"installationId,omitempty"`
	// ConnectionID and Branch are a GitHub connection's conn_ id and branch.
	ConnectionID string    `json:"connectionId,omitempty"`
	Branch       string    `json:"branch,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
}

// List returns every connection, AWS first, each kind sorted by id. It never
// decrypts anything, so it works without the key and cannot leak a secret.
func (s *Store) List(ctx context.Context) ([]Summary, error) {
	out := []Summary{}
	for _, hash := range []string{awsKey, githubKey} {
		all, err := s.rdb.HGetAll(ctx, hash).Result()
		if err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		part := make([]Summary, 0, len(all))
		for field, data := range all {
			var rec record
			if err := json.Unmarshal([]byte(data), &rec); err != nil {
				return nil, fmt.Errorf("decode connection %s: %w", field, err)
			}
			part = append(part, summarize(hash, field, rec))
		}
		sort.Slice(part, func(i, j int) bool { return part[i].ID < part[j].ID })
		out = append(out, part...)
	}
	return out, nil
}

func summarize(hash, field string, rec record) Summary {
	sum := Summary{ID: field, Region: rec.Region, RoleARN: rec.RoleARN, HasExternalID: rec.HasExternalID,
		AccountID: rec.AccountID, InstallationID: rec.InstallationID, ConnectionID: rec.ID, Branch: rec.Branch,
		CreatedAt: rec.CreatedAt}
	switch {
	case hash == awsKey && rec.RoleARN != "":
		sum.Kind, sum.Auth = "aws", "role"
	case hash == awsKey:
		sum.Kind, sum.Auth = "aws", "keys"
	case rec.HasToken:
		sum.Kind, sum.Auth = "github", "token"
	default:
		sum.Kind, sum.Auth = "github", "installation"
	}
	return sum
}

// DeleteAWS removes the AWS connection called name, or returns ErrNotFound.
func (s *Store) DeleteAWS(ctx context.Context, name string) error { return s.del(ctx, awsKey, name) }

// DeleteGitHub removes the connection of repo, or returns ErrNotFound.
func (s *Store) DeleteGitHub(ctx context.Context, repo string) error {
	rec, err := s.get(ctx, githubKey, repo)
	if err != nil {
		return err
	}
	if err := s.del(ctx, githubKey, repo); err != nil {
		return err
	}
	if rec.ID != "" {
		if err := s.rdb.HDel(ctx, githubIDs, rec.ID).Err(); err != nil {
			return fmt.Errorf("delete connection id %s: %w", rec.ID, err)
		}
	}
	return nil
}

func (s *Store) del(ctx context.Context, hash, field string) error {
	n, err := s.rdb.HDel(ctx, hash, field).Result()
	if err != nil {
		return fmt.Errorf("delete connection %s: %w", field, err)
	}
	if n == 0 {
		return fmt.Errorf("connection %s: %w", field, ErrNotFound)
	}
	return nil
}

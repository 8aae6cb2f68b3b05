package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Installation is an installation of the GitHub App and the repositories it covers.
type Installation struct {
	ID        int64     `json:"id"`
	Account   string    `json:"account"`
	Suspended bool      `json:"suspended,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
	// AllRepos is true when the installation covers every repository of the account.
	AllRepos bool `json:"allRepos,omitempty"`
}

// An installation's keys share a hash tag, so the transactions that write
// them work on a Redis Cluster. The served repositories are kept by id
// (installationRepoIDsKey): a repository keeps its id through a rename or a
// transfer, while its name changes. The set of names (installationReposKey)
// is what records written before ids were kept hold; it is still written,
// for app instances of that age during a rolling upgrade, and read only as
// a fallback for names recorded without an id: installationRepoNamesKey maps
// each name recorded with an id to that id, so a repository that later took
// a served repository's old name is not served by it.
func installationKey(id int64) string          { return fmt.Sprintf("panda:inst:{%d}", id) }
func installationReposKey(id int64) string     { return fmt.Sprintf("panda:inst:{%d}:repos", id) }
func installationRepoIDsKey(id int64) string   { return fmt.Sprintf("panda:inst:{%d}:repoids", id) }
func installationRepoNamesKey(id int64) string { return fmt.Sprintf("panda:inst:{%d}:reponames", id) }

// RepoRef names a repository: by its id, which survives renames and
// transfers, and by its full name ("owner/name") at the time. ID is 0 when
// only the name is known (a payload from an older app).
type RepoRef struct {
	ID       int64
	FullName string
}

// Repository selections of an installation, as GitHub spells
// repository_selection ("all" or "selected").
const (
	SelectionAll      = "all"
	SelectionSelected = "selected"
)

// RepoChange is an installation_repositories event: repositories added and
// removed, and the installation's repository_selection after the change.
type RepoChange struct {
	Added, Removed []RepoRef
	// Selection is SelectionAll or SelectionSelected; empty leaves the
	// installation's selection as it was.
	Selection string
}

// PutInstallation stores inst and, when repos is not nil, replaces its
// repositories (by name: see PutInstallationRepos).
func (s *Store) PutInstallation(ctx context.Context, inst Installation, repos []string) error {
	var refs []RepoRef
	if repos != nil {
		refs = make([]RepoRef, 0, len(repos))
		for _, r := range repos {
			refs = append(refs, RepoRef{FullName: r})
		}
	}
	return s.PutInstallationRepos(ctx, inst, refs)
}

// PutInstallationRepos stores inst and, when repos is not nil, replaces its
// repositories.
func (s *Store) PutInstallationRepos(ctx context.Context, inst Installation, repos []RepoRef) error {
	inst.UpdatedAt = s.now()
	data, err := json.Marshal(inst)
	if err != nil {
		return fmt.Errorf("encode installation %d: %w", inst.ID, err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, installationKey(inst.ID), data, 0)
		if repos != nil {
			p.Del(ctx, installationReposKey(inst.ID), installationRepoIDsKey(inst.ID), installationRepoNamesKey(inst.ID))
			addRepos(ctx, p, inst.ID, repos)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store installation %d: %w", inst.ID, err)
	}
	return nil
}

// ChangeRepos adds and removes repositories of an installation by name.
func (s *Store) ChangeRepos(ctx context.Context, id int64, added, removed []string) error {
	ref := func(names []string) []RepoRef {
		out := make([]RepoRef, 0, len(names))
		for _, n := range names {
			out = append(out, RepoRef{FullName: n})
		}
		return out
	}
	return s.ApplyRepoChange(ctx, id, RepoChange{Added: ref(added), Removed: ref(removed)})
}

// ApplyRepoChange applies an installation_repositories event: the
// repositories added and removed, and a change of repository_selection
// ("all" serves every repository of the account; "selected" only those
// recorded). The selection is applied only to an installation Panda has a
// record of: without one, every repository is served anyway (see Serves),
// and a record made from this event alone would know too few repositories.
func (s *Store) ApplyRepoChange(ctx context.Context, id int64, c RepoChange) error {
	key := installationKey(id)
	txf := func(tx *redis.Tx) error {
		var inst *Installation
		if c.Selection != "" {
			cur, err := readInstallation(ctx, tx, id)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err == nil {
				cur.AllRepos, cur.UpdatedAt = c.Selection == SelectionAll, s.now()
				inst = &cur
			}
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if inst != nil {
				data, err := json.Marshal(inst)
				if err != nil {
					return fmt.Errorf("encode installation %d: %w", id, err)
				}
				p.Set(ctx, key, data, 0)
			}
			addRepos(ctx, p, id, c.Added)
			removeRepos(ctx, p, id, c.Removed)
			return nil
		})
		return err
	}
	for range 20 {
		err := s.rdb.Watch(ctx, txf, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return fmt.Errorf("change repositories of installation %d: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("change repositories of installation %d: too much contention", id)
}

func addRepos(ctx context.Context, p redis.Pipeliner, id int64, repos []RepoRef) {
	if names := fullNames(repos); len(names) > 0 {
		p.SAdd(ctx, installationReposKey(id), names...)
	}
	if ids := repoIDs(repos); len(ids) > 0 {
		p.SAdd(ctx, installationRepoIDsKey(id), ids...)
	}
	for _, r := range repos {
		if r.ID > 0 && r.FullName != "" {
			p.HSet(ctx, installationRepoNamesKey(id), r.FullName, strconv.FormatInt(r.ID, 10))
		}
	}
}

// removeRepos forgets repositories by id and by name: the name of a
// repository removed after a rename may be the old one in the name set.
func removeRepos(ctx context.Context, p redis.Pipeliner, id int64, repos []RepoRef) {
	if names := fullNames(repos); len(names) > 0 {
		p.SRem(ctx, installationReposKey(id), names...)
	}
	if ids := repoIDs(repos); len(ids) > 0 {
		p.SRem(ctx, installationRepoIDsKey(id), ids...)
	}
	// The name stays mapped to its id: it must not serve another repository
	// through the fallback by name.
}

func fullNames(repos []RepoRef) []any {
	var out []any
	for _, r := range repos {
		if r.FullName != "" {
			out = append(out, r.FullName)
		}
	}
	return out
}

func repoIDs(repos []RepoRef) []any {
	var out []any
	for _, r := range repos {
		if r.ID > 0 {
			out = append(out, strconv.FormatInt(r.ID, 10))
		}
	}
	return out
}

// DeleteInstallation forgets an installation and its repositories.
func (s *Store) DeleteInstallation(ctx context.Context, id int64) error {
	if err := s.rdb.Del(ctx, installationKey(id), installationReposKey(id), installationRepoIDsKey(id), installationRepoNamesKey(id)).Err(); err != nil {
		return fmt.Errorf("delete installation %d: %w", id, err)
	}
	return nil
}

// Installation returns the stored installation, or ErrNotFound.
func (s *Store) Installation(ctx context.Context, id int64) (Installation, error) {
	return readInstallation(ctx, s.rdb, id)
}

func readInstallation(ctx context.Context, c redis.Cmdable, id int64) (Installation, error) {
	data, err := c.Get(ctx, installationKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Installation{}, fmt.Errorf("installation %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Installation{}, fmt.Errorf("read installation %d: %w", id, err)
	}
	var inst Installation
	if err := json.Unmarshal(data, &inst); err != nil {
		return Installation{}, fmt.Errorf("decode installation %d: %w", id, err)
	}
	return inst, nil
}

// Repos returns the repositories recorded for an installation.
func (s *Store) Repos(ctx context.Context, id int64) ([]string, error) {
	repos, err := s.rdb.SMembers(ctx, installationReposKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read repositories of installation %d: %w", id, err)
	}
	return repos, nil
}

// Serves reports whether Panda serves repo through installation id. An
// installation Panda has no record of is served (known is false): its
// installation event may predate this Redis, and GitHub only sends the App
// deliveries of its installations. A recorded installation that is suspended,
// or that does not list the repository, is not served.
func (s *Store) Serves(ctx context.Context, id int64, repo string) (serves, known bool, err error) {
	inst, err := s.Installation(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return true, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if inst.Suspended {
		return false, true, nil
	}
	if inst.AllRepos || repo == "" {
		return true, true, nil
	}
	ok, err := s.rdb.SIsMember(ctx, installationReposKey(id), repo).Result()
	if err != nil {
		return false, true, fmt.Errorf("look up repository of installation %d: %w", id, err)
	}
	return ok, true, nil
}

// ServesRepo is Serves by repository id, so a repository renamed or
// transferred since it was granted is still served. A repository recorded
// only by name (by code that kept no ids, or granted through a payload
// without them) is found by name, and its id is then recorded: the record
// migrates itself one delivery at a time, before any rename can strand it.
// A name recorded with an id serves only that id.
// While the installation serves all repositories, ids are recorded as they
// are seen, so a later switch to "selected" knows them.
func (s *Store) ServesRepo(ctx context.Context, id int64, r RepoRef) (serves, known bool, err error) {
	inst, err := s.Installation(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return true, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if inst.Suspended {
		return false, true, nil
	}
	if r.ID <= 0 {
		return s.Serves(ctx, id, r.FullName)
	}
	member := strconv.FormatInt(r.ID, 10)
	if inst.AllRepos {
		s.learnRepo(ctx, id, r.FullName, member)
		return true, true, nil
	}
	byID, err := s.rdb.SIsMember(ctx, installationRepoIDsKey(id), member).Result()
	if err != nil {
		return false, true, fmt.Errorf("look up repository of installation %d: %w", id, err)
	}
	if byID || r.FullName == "" {
		return byID, true, nil
	}
	byName, err := s.rdb.SIsMember(ctx, installationReposKey(id), r.FullName).Result()
	if err != nil {
		return false, true, fmt.Errorf("look up repository of installation %d: %w", id, err)
	}
	if !byName {
		return false, true, nil
	}
	// Recorded with an id already: that id (not r's) is the one it serves.
	owned, err := s.rdb.HExists(ctx, installationRepoNamesKey(id), r.FullName).Result()
	if err != nil {
		return false, true, fmt.Errorf("look up repository of installation %d: %w", id, err)
	}
	if owned {
		return false, true, nil
	}
	s.learnRepo(ctx, id, r.FullName, member)
	return true, true, nil
}

// learnRepo records a served repository's id, best effort: the delivery is
// served either way, and the next one records it if this one could not.
func (s *Store) learnRepo(ctx context.Context, id int64, name, member string) {
	_, _ = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, installationRepoIDsKey(id), member)
		if name != "" {
			p.HSet(ctx, installationRepoNamesKey(id), name, member)
		}
		return nil
	})
}

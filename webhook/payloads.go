package webhook

import "github.com/pandadeploy/panda/tasks"

// The payload structs decode only the fields Panda routes on. go-github's full
// event types are not used here on purpose: real deliveries carry timestamps in
// several formats (older ones "2018-04-25 20:42:10"), and one field Panda does
// not read must not make a valid delivery "malformed". Decoding less is also
// faster on the intake path: each event decodes itself with the one-pass
// scanner (scan.go); the json tags say the same members for encoding/json,
// which the tests use as the reference decoder.

type account struct {
	Login string `json:"login"`
	Type  string `json:"type"` // User, Organization, Bot
}

type installationRef struct {
	ID                  int64   `json:"id"`
	Account             account `json:"account"`
	RepositorySelection string  `json:"repository_selection"`
}

type repository struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
}

type headCommit struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

type pushEvent struct {
	Ref          string          `json:"ref"`
	After        string          `json:"after"`
	Deleted      bool            `json:"deleted"`
	HeadCommit   *headCommit     `json:"head_commit"`
	Repo         repository      `json:"repository"`
	Sender       account         `json:"sender"`
	Installation installationRef `json:"installation"`
}

type pullRequest struct {
	URL string `json:"url"`
}

type issueCommentEvent struct {
	Action string `json:"action"`
	Issue  struct {
		Number      int          `json:"number"`
		PullRequest *pullRequest `json:"pull_request"`
	} `json:"issue"`
	Comment struct {
		ID   int64   `json:"id"`
		Body string  `json:"body"`
		User account `json:"user"`
	} `json:"comment"`
	Repo         repository      `json:"repository"`
	Sender       account         `json:"sender"`
	Installation installationRef `json:"installation"`
}

type requestedAction struct {
	Identifier string `json:"identifier"`
}

type checkRunEvent struct {
	Action   string `json:"action"`
	CheckRun struct {
		ID         int64  `json:"id"`
		ExternalID string `json:"external_id"`
		HeadSHA    string `json:"head_sha"`
	} `json:"check_run"`
	RequestedAction *requestedAction `json:"requested_action"`
	Repo            repository       `json:"repository"`
	Sender          account          `json:"sender"`
	Installation    installationRef  `json:"installation"`
}

type checkSuiteEvent struct {
	Action     string `json:"action"`
	CheckSuite struct {
		ID      int64  `json:"id"`
		HeadSHA string `json:"head_sha"`
	} `json:"check_suite"`
	Repo         repository      `json:"repository"`
	Sender       account         `json:"sender"`
	Installation installationRef `json:"installation"`
}

type installationEvent struct {
	Action       string          `json:"action"`
	Installation installationRef `json:"installation"`
	Repositories []repository    `json:"repositories"`
}

type installationRepositoriesEvent struct {
	Action              string          `json:"action"`
	Installation        installationRef `json:"installation"`
	RepositorySelection string          `json:"repository_selection"`
	Added               []repository    `json:"repositories_added"`
	Removed             []repository    `json:"repositories_removed"`
}

func repos(rs []repository) []tasks.Repository {
	out := make([]tasks.Repository, 0, len(rs))
	for _, r := range rs {
		out = append(out, tasks.Repository{ID: r.ID, FullName: r.FullName})
	}
	return out
}

func fullNames(rs []repository) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.FullName)
	}
	return out
}

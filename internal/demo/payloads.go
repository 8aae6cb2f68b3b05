package demo

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// fixtures are real GitHub webhook bodies (payloads/SOURCES.tsv names where
// each comes from). The demo sends them with the fields of its own repository,
// commit and installation set on a decoded copy, as the e2e tests do, so what
// the app receives has every field GitHub sends.
//
//go:embed payloads/*.json
var fixtures embed.FS

// pushPayload is a push of sha to branch of repo ("owner/name") for the App's
// installation.
func pushPayload(repo, branch, before, sha string, installation int64) ([]byte, error) {
	m, err := fixture("push.branch.json")
	if err != nil {
		return nil, err
	}
	owner, name := splitRepo(repo)
	m["ref"], m["before"], m["after"] = "refs/heads/"+branch, before, sha
	m["head_commit"].(map[string]any)["id"] = sha
	r := m["repository"].(map[string]any)
	r["full_name"], r["name"], r["default_branch"] = repo, name, "main"
	r["owner"].(map[string]any)["login"] = owner
	m["installation"] = map[string]any{"id": installation}
	return json.Marshal(m)
}

// commentPayload is a new comment commentID by login on pull request number of repo.
func commentPayload(repo string, number int, commentID int64, login, body string, installation int64) ([]byte, error) {
	m, err := fixture("issue_comment.created.pr.json")
	if err != nil {
		return nil, err
	}
	owner, name := splitRepo(repo)
	m["action"] = "created"
	m["issue"].(map[string]any)["number"] = number
	c := m["comment"].(map[string]any)
	c["id"], c["body"] = commentID, body
	c["user"] = map[string]any{"login": login, "type": "User"}
	m["sender"] = map[string]any{"login": login, "type": "User"}
	r := m["repository"].(map[string]any)
	r["full_name"], r["name"] = repo, name
	r["owner"].(map[string]any)["login"] = owner
	m["installation"] = map[string]any{"id": installation}
	return json.Marshal(m)
}

func fixture(name string) (map[string]any, error) {
	raw, err := fixtures.ReadFile("payloads/" + name)
	if err != nil {
		return nil, fmt.Errorf("read fixture %s: %w", name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode fixture %s: %w", name, err)
	}
	return m, nil
}

func splitRepo(repo string) (owner, name string) {
	for i := range len(repo) {
		if repo[i] == '/' {
			return repo[:i], repo[i+1:]
		}
	}
	return repo, ""
}

// signature is the X-Hub-Signature-256 GitHub sends: "sha256=" and the hex
// HMAC-SHA256 of the exact body under the webhook secret
// (docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries).
func signature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// deliveryID is a fresh GUID, the form of GitHub's X-GitHub-Delivery.
func deliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomSecret returns n random bytes in hex: the demo's webhook secret and
// API token, new each run.
func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

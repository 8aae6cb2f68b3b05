package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Comment is an issue or pull request comment.
type Comment struct {
	ID        int64
	Repo      string // "owner/name"
	Issue     int
	User      string
	Body      string
	CreatedAt time.Time
}

// Reaction is a reaction on an issue comment.
type Reaction struct {
	ID      int64
	User    string
	Content string
}

// PullRequest is a pull request the server knows. HeadRepo is "owner/name" of
// the head branch's repository; if it differs from the base repository the pull
// request comes from a fork. If empty, the base repository.
type PullRequest struct {
	Number   int
	Title    string
	State    string // If empty, "open".
	HeadSHA  string
	HeadRef  string
	HeadRepo string
	BaseRef  string
	User     string
}

// AddPullRequest adds a pull request to repo, which must be installed.
func (s *Server) AddPullRequest(repo string, pr PullRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repo)
	if pr.State == "" {
		pr.State = "open"
	}
	if pr.HeadRepo == "" {
		pr.HeadRepo = r.fullName()
	}
	r.pulls[pr.Number] = pr
}

// SetPermission gives user a role on repo: admin, maintain, write, triage,
// read or none.
func (s *Server) SetPermission(repo, user, perm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustRepo(repo).permissions[strings.ToLower(user)] = perm
}

// AddComment records a comment as if user had written it on issue or pull
// request number of repo, and returns its id. If c.ID is zero a fresh id is
// used; set it to match a webhook payload's comment id.
func (s *Server) AddComment(repo string, number int, c Comment) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repo)
	if c.ID == 0 {
		c.ID = s.newID()
	}
	c.Repo, c.Issue = r.fullName(), number
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	s.comments[c.ID] = &c
	return c.ID
}

// Comments returns the comments on issue or pull request number of repo,
// oldest first.
func (s *Server) Comments(repo string, number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commentsOn(strings.ToLower(repo), number)
}

// commentsOn lists comments oldest first. The caller holds s.mu.
func (s *Server) commentsOn(repo string, number int) []Comment {
	var out []Comment
	for _, c := range s.comments {
		if strings.ToLower(c.Repo) == repo && c.Issue == number {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b Comment) int { return int(a.ID - b.ID) })
	return out
}

// Reactions returns the reactions on issue comment commentID, oldest first.
func (s *Server) Reactions(commentID int64) []Reaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reactions[commentID])
}

// mustRepo returns an installed repository; setting up a repository that was
// never installed is a bug in the test. The caller holds s.mu.
func (s *Server) mustRepo(repo string) *repository {
	r := s.repos[strings.ToLower(repo)]
	if r == nil {
		panic("githubtest: repository " + repo + " is not installed; call AddInstallation first")
	}
	return r
}

func (s *Server) commentJSON(c *Comment) map[string]any {
	base := s.srv.URL + "/repos/" + c.Repo + "/issues"
	return map[string]any{
		"id": c.ID, "node_id": "IC_" + itoa(c.ID), "body": c.Body, "user": userJSON(c.User),
		"url": base + "/comments/" + itoa(c.ID), "issue_url": base + "/" + strconv.Itoa(c.Issue),
		"html_url":   "https://github.com/" + c.Repo + "/issues/" + strconv.Itoa(c.Issue) + "#issuecomment-" + itoa(c.ID),
		"created_at": c.CreatedAt, "updated_at": c.CreatedAt, "author_association": "NONE",
	}
}

// handleCreateComment posts a comment as the App's bot. Any issue number is
// accepted: the server does not model issues apart from pull requests.
func (s *Server) handleCreateComment(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Body *string `json:"body"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "issues", "write")
	if !ok {
		return
	}
	number, err := strconv.Atoi(r.PathValue("number"))
	switch {
	case err != nil || number <= 0:
		writeError(w, http.StatusNotFound, "Not Found")
		return
	case body.Body == nil || *body.Body == "":
		writeInvalid(w, missing("IssueComment", "body"))
		return
	// The limit is not in the REST reference; it is GitHub's answer, as
	// recorded from POST .../issues/{n}/comments (jmikedupont2/ai-ticket#51,
	// reg-viz/reg-actions#123, objectstack-ai/objectstack#18934):
	// {"resource":"IssueComment","code":"unprocessable","field":"data",
	// "message":"Body is too long (maximum is 65536 characters)"}. GitHub
	// says "characters"; bytes are modelled, the stricter reading, as GitHub
	// measures the check-run texts in bytes.
	case len(*body.Body) > maxCommentChars:
		writeInvalid(w, fieldError{Resource: "IssueComment", Field: "data", Code: "unprocessable",
			Message: fmt.Sprintf("Body is too long (maximum is %d characters)", maxCommentChars)})
		return
	}
	c := &Comment{ID: s.newID(), Repo: repo.fullName(), Issue: number, User: botLogin(), Body: *body.Body, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	s.comments[c.ID] = c
	writeJSON(w, http.StatusCreated, s.commentJSON(c))
}

func (s *Server) handleListComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "issues", "read")
	if !ok {
		return
	}
	number, _ := strconv.Atoi(r.PathValue("number"))
	// since: "Only show results that were last updated after the given time"
	// (https://docs.github.com/rest/issues/comments#list-issue-comments);
	// comments here are never edited, so updated_at is created_at. The
	// reference documents since as an ISO 8601 timestamp but not the answer
	// to a malformed one; 422 is this server's (stricter) choice.
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeInvalid(w, invalid("IssueComment", "since", "%q is not an ISO 8601 timestamp", v))
			return
		}
		since = t
	}
	out := []map[string]any{}
	for _, c := range s.commentsOn(strings.ToLower(repo.fullName()), number) {
		if c.CreatedAt.Before(since) {
			continue
		}
		out = append(out, s.commentJSON(&c))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleCreateReaction reacts as the App's bot: 201 for a new reaction, 200
// with the existing one when the bot already reacted with that content.
func (s *Server) handleCreateReaction(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Content string `json:"content"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "issues", "write")
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	c := s.comments[id]
	if c == nil || !strings.EqualFold(c.Repo, repo.fullName()) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if errs := oneOf("Reaction", "content", body.Content, reactionContents); errs != nil {
		writeInvalid(w, errs...)
		return
	}
	for _, re := range s.reactions[id] {
		if re.User == botLogin() && re.Content == body.Content {
			writeJSON(w, http.StatusOK, reactionJSON(re))
			return
		}
	}
	re := Reaction{ID: s.newID(), User: botLogin(), Content: body.Content}
	s.reactions[id] = append(s.reactions[id], re)
	writeJSON(w, http.StatusCreated, reactionJSON(re))
}

func reactionJSON(re Reaction) map[string]any {
	return map[string]any{"id": re.ID, "node_id": "REA_" + itoa(re.ID), "user": userJSON(re.User), "content": re.Content, "created_at": time.Now().UTC().Format(time.RFC3339)}
}

// handlePermission answers the collaborator permission of a user. permission
// is the legacy field (maintain reads as write, triage as read); role_name is
// the role itself. Users without a role get none.
func (s *Server) handlePermission(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "metadata", "read")
	if !ok {
		return
	}
	user := r.PathValue("user")
	role := repo.permissions[strings.ToLower(user)]
	if role == "" {
		role = "none"
	}
	legacy := map[string]string{"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}[role]
	if legacy == "" {
		legacy = "none"
	}
	writeJSON(w, http.StatusOK, map[string]any{"permission": legacy, "role_name": role, "user": userJSON(user)})
}

func (s *Server) handleGetPull(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "pull_requests", "read")
	if !ok {
		return
	}
	number, _ := strconv.Atoi(r.PathValue("number"))
	pr, found := repo.pulls[number]
	if !found {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.pullJSON(repo, pr))
}

func (s *Server) pullJSON(repo *repository, pr PullRequest) map[string]any {
	head := s.repoJSON(repo)
	if !strings.EqualFold(pr.HeadRepo, repo.fullName()) {
		owner, name, _ := strings.Cut(pr.HeadRepo, "/")
		head = map[string]any{
			"id": userID(pr.HeadRepo), "name": name, "full_name": pr.HeadRepo, "owner": userJSON(owner),
			"fork": true, "private": false, "clone_url": "https://github.com/" + pr.HeadRepo + ".git",
			"html_url": "https://github.com/" + pr.HeadRepo,
		}
	}
	owner, _, _ := strings.Cut(pr.HeadRepo, "/")
	return map[string]any{
		"id": userID(repo.fullName()) + int64(pr.Number), "number": pr.Number, "state": pr.State,
		"title": pr.Title, "user": userJSON(pr.User), "draft": false, "merged": false,
		"url":      s.srv.URL + "/repos/" + repo.fullName() + "/pulls/" + strconv.Itoa(pr.Number),
		"html_url": "https://github.com/" + repo.fullName() + "/pull/" + strconv.Itoa(pr.Number),
		"head":     map[string]any{"ref": pr.HeadRef, "sha": pr.HeadSHA, "label": owner + ":" + pr.HeadRef, "repo": head, "user": userJSON(owner)},
		"base":     map[string]any{"ref": pr.BaseRef, "label": repo.owner + ":" + pr.BaseRef, "repo": s.repoJSON(repo), "user": userJSON(repo.owner)},
	}
}

package githubtest

import "net/http"

// routes maps GitHub's REST paths to handlers. App routes take the App JWT;
// repository routes take an installation token.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app", s.handleGetApp)
	mux.HandleFunc("GET /app/installations/{id}", s.handleGetInstallation)
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", s.handleCreateToken)
	mux.HandleFunc("GET /app/hook/deliveries", s.handleListDeliveries)
	mux.HandleFunc("GET /app/hook/deliveries/{id}", s.handleGetDelivery)
	mux.HandleFunc("POST /app/hook/deliveries/{id}/attempts", s.handleRedeliver)

	const repo = "/repos/{owner}/{repo}"
	mux.HandleFunc("GET "+repo, s.handleGetRepo)
	mux.HandleFunc("POST "+repo+"/statuses/{sha}", s.handleCreateCommitStatus)
	mux.HandleFunc("POST "+repo+"/check-runs", s.handleCreateCheckRun)
	mux.HandleFunc("GET "+repo+"/check-runs/{id}", s.handleGetCheckRun)
	mux.HandleFunc("PATCH "+repo+"/check-runs/{id}", s.handleUpdateCheckRun)
	mux.HandleFunc("GET "+repo+"/commits/{ref}/check-runs", s.handleListCheckRunsForRef)
	mux.HandleFunc("POST "+repo+"/issues/{number}/comments", s.handleCreateComment)
	mux.HandleFunc("GET "+repo+"/issues/{number}/comments", s.handleListComments)
	mux.HandleFunc("POST "+repo+"/issues/comments/{id}/reactions", s.handleCreateReaction)
	mux.HandleFunc("GET "+repo+"/collaborators/{user}/permission", s.handlePermission)
	mux.HandleFunc("GET "+repo+"/pulls/{number}", s.handleGetPull)
	mux.HandleFunc("GET "+repo+"/contents/{path...}", s.handleGetContents)
	mux.HandleFunc("GET "+repo+"/commits/{ref}", s.handleGetCommit)
	mux.HandleFunc("POST "+repo+"/deployments", s.handleCreateDeployment)
	mux.HandleFunc("GET "+repo+"/deployments", s.handleListDeployments)
	mux.HandleFunc("POST "+repo+"/deployments/{id}/statuses", s.handleCreateStatus)
	mux.HandleFunc("GET "+repo+"/deployments/{id}/statuses", s.handleListStatuses)
	mux.HandleFunc("GET /orgs/{org}/teams/{team_slug}/memberships/{username}", s.handleTeamMembership)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})
	return mux
}

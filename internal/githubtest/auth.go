package githubtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// installation is one installation of the App on an account.
type installation struct {
	id          int64
	account     string
	repos       []string // lower-case full names
	permissions map[string]string
	createdAt   time.Time
}

// installationToken is an access token the server issued.
type installationToken struct {
	installationID int64
	expiresAt      time.Time
	repos          []string // lower-case full names; nil means every repository of the installation
	permissions    map[string]string
}

// defaultPermissions are the permissions every installation is granted:
// exactly the default_permissions of Panda's App manifest (app.yml at the
// module root; TestPermissionsAreTheManifests keeps the two equal). A route
// that needs more answers 403 "Resource not accessible by integration", as
// GitHub does (https://docs.github.com/rest/authentication/permissions-required-for-github-apps).
func defaultPermissions() map[string]string {
	return map[string]string{
		"checks":        "write",
		"contents":      "read",
		"deployments":   "write",
		"issues":        "write",
		"members":       "read",
		"metadata":      "read",
		"pull_requests": "read",
	}
}

// permissionRank orders access levels so that a higher level includes the lower.
func permissionRank(level string) int {
	switch level {
	case "read":
		return 1
	case "write":
		return 2
	case "admin":
		return 3
	}
	return 0
}

// SetTokenTTL sets how long installation tokens issued from now on stay valid.
// GitHub's (and the default) is one hour.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTTL = d
}

// ExpireTokens makes every installation token issued so far expired, as if an
// hour had passed; a client that keeps using one gets 401 Bad credentials.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for _, tok := range s.tokens {
		tok.expiresAt = past
	}
}

// TokensIssued returns how many installation tokens the server has issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// bearer returns the credential of an Authorization header of the form
// "token X" or "Bearer X".
func bearer(r *http.Request) (string, bool) {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || cred == "" {
		return "", false
	}
	switch strings.ToLower(scheme) {
	case "token", "bearer":
		return strings.TrimSpace(cred), true
	}
	return "", false
}

// authApp checks that r carries a valid App JWT, answering 401 with GitHub's
// message when it does not.
func (s *Server) authApp(w http.ResponseWriter, r *http.Request) bool {
	raw, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Requires authentication")
		return false
	}
	if msg := s.verifyJWT(raw, time.Now()); msg != "" {
		writeError(w, http.StatusUnauthorized, msg)
		return false
	}
	return true
}

// verifyJWT returns "" when raw is an RS256 JWT signed with the App key whose
// iss is the App id and whose lifetime GitHub would accept, else GitHub's
// message for what is wrong.
func (s *Server) verifyJWT(raw string, now time.Time) string {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) {
		return &s.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		return "A JSON web token could not be decoded"
	}
	exp, errExp := claims.GetExpirationTime()
	iat, errIat := claims.GetIssuedAt()
	if errIat != nil || iat == nil || iat.After(now.Add(time.Minute)) {
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	if errExp != nil || exp == nil || !exp.After(now) {
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	}
	// GitHub caps an App JWT's life at ten minutes so a leaked one is short-lived.
	if exp.Sub(iat.Time) > 10*time.Minute || exp.Sub(now) > 10*time.Minute+time.Minute {
		return "'Expiration time' claim ('exp') is too far in the future"
	}
	if issuer(claims["iss"]) != s.appID {
		return "Integration not found"
	}
	return ""
}

// issuer reads an iss claim, which GitHub accepts as a number or a string.
func issuer(v any) int64 {
	switch iss := v.(type) {
	case float64:
		return int64(iss)
	case string:
		id, _ := strconv.ParseInt(iss, 10, 64)
		return id
	}
	return 0
}

// authRepo checks that r carries a live installation token that covers repo
// with at least level on permission. It answers like GitHub otherwise: 401 for
// a missing, unknown or expired token, 404 for a repository the token cannot
// see (GitHub does not reveal that a private repository exists), 403 for a
// missing permission. The caller holds s.mu.
func (s *Server) authRepo(w http.ResponseWriter, r *http.Request, permission, level string) (*repository, bool) {
	raw, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Requires authentication")
		return nil, false
	}
	// A personal access token authenticates the same way ("Authorization:
	// Bearer" or "token", "Authenticating to the REST API",
	// https://docs.github.com/rest/authentication/authenticating-to-the-rest-api).
	if p := s.pats[raw]; p != nil {
		return s.authPAT(w, r, p, permission, level)
	}
	tok := s.tokens[raw]
	if tok == nil || !time.Now().Before(tok.expiresAt) {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return nil, false
	}
	full := strings.ToLower(r.PathValue("owner") + "/" + r.PathValue("repo"))
	repo := s.repos[full]
	if repo == nil || repo.installationID != tok.installationID || (tok.repos != nil && !contains(tok.repos, full)) {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	if permissionRank(tok.permissions[permission]) < permissionRank(level) {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration")
		return nil, false
	}
	return repo, true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// newTokenValue returns an installation token in GitHub's stateless format,
// "ghs_APPID_JWT": "Starting April 27, 2026, GitHub began a staged rollout of
// a stateless format (ghs_APPID_JWT) to all newly minted GitHub App
// installation tokens" (docs.github.com, "Generating an installation access
// token for a GitHub App"); "The overall length of the tokens will be longer
// (~520 characters) and will vary" (GitHub blog notice, quoted in
// mongodb/kingfisher#359). The JWT part is base64url with dots, so its
// alphabet is [A-Za-z0-9._-] (github/gh-aw#35016). The server always issues
// the new format, the stricter case for a client's redaction.
func newTokenValue(appID, installationID int64, expires time.Time) string {
	enc := base64.RawURLEncoding
	jti := make([]byte, 16)
	sig := make([]byte, 256) // an RS256 signature's size
	_, _ = rand.Read(jti)
	_, _ = rand.Read(sig)
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"installation"}`))
	claims := enc.EncodeToString([]byte(fmt.Sprintf(`{"iss":%d,"sub":"installation:%d","jti":"%s","exp":%d,"ver":"1"}`,
		appID, installationID, hex.EncodeToString(jti), expires.Unix())))
	return "ghs_" + strconv.FormatInt(appID, 10) + "_" + header + "." + claims + "." + enc.EncodeToString(sig)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TokenCanRead reports whether token is a live installation token of this
// server that may read repo's contents, as GitHub decides for a git clone.
func (s *Server) TokenCanRead(token, repo string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := strings.ToLower(repo)
	if p := s.pats[token]; p != nil {
		return s.repos[full] != nil && contains(p.repos, full) && permissionRank(p.permissions["contents"]) >= permissionRank("read")
	}
	tok := s.tokens[token]
	r := s.repos[full]
	if tok == nil || r == nil || !time.Now().Before(tok.expiresAt) || r.installationID != tok.installationID {
		return false
	}
	if tok.repos != nil && !contains(tok.repos, full) {
		return false
	}
	return permissionRank(tok.permissions["contents"]) >= permissionRank("read")
}

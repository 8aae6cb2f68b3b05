package awstest

import (
	"crypto/subtle"
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Role is an IAM role that AssumeRole may assume.
type Role struct {
	// ARN is the role's ARN, arn:aws:iam::ACCOUNT:role/NAME.
	ARN string
	// ExternalID, when set, must be passed by AssumeRole callers (the
	// confused-deputy guard for third-party access).
	ExternalID string
}

// AddRole registers a role that the server's credentials may assume.
func (s *Server) AddRole(r Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[r.ARN] = r
}

func (s *Server) handleSTS(req request) (any, *apiError) {
	switch req.op {
	case "GetCallerIdentity":
		return getCallerIdentityResult{Arn: req.caller.arn, UserID: req.caller.userID, Account: req.caller.account}, nil
	case "AssumeRole":
		return s.assumeRole(req)
	}
	return nil, errf(400, "InvalidAction", "Could not find operation "+req.op+" for version 2011-06-15")
}

type getCallerIdentityResult struct {
	XMLName xml.Name `xml:"GetCallerIdentityResult"`
	Arn     string   `xml:"Arn"`
	UserID  string   `xml:"UserId"`
	Account string   `xml:"Account"`
}

type assumeRoleResult struct {
	XMLName         xml.Name `xml:"AssumeRoleResult"`
	AccessKeyID     string   `xml:"Credentials>AccessKeyId"`
	SecretAccessKey string   `xml:"Credentials>SecretAccessKey"`
	SessionToken    string   `xml:"Credentials>SessionToken"`
	Expiration      string   `xml:"Credentials>Expiration"`
	AssumedRoleID   string   `xml:"AssumedRoleUser>AssumedRoleId"`
	Arn             string   `xml:"AssumedRoleUser>Arn"`
}

var (
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	roleARNRE     = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/([\w+=,.@/-]{1,64})$`)
)

func (s *Server) assumeRole(req request) (any, *apiError) {
	roleARN, session := req.form.Get("RoleArn"), req.form.Get("RoleSessionName")
	if !sessionNameRE.MatchString(session) {
		return nil, errf(400, "ValidationError", "1 validation error detected: Value '"+session+"' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
	}
	m := roleARNRE.FindStringSubmatch(roleARN)
	if m == nil {
		return nil, errf(400, "ValidationError", roleARN+" is invalid")
	}
	duration := time.Hour
	if d := req.form.Get("DurationSeconds"); d != "" {
		secs, err := strconv.Atoi(d)
		if err != nil || secs < 900 || secs > 43200 {
			return nil, errf(400, "ValidationError", "1 validation error detected: Value '"+d+"' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")
		}
		duration = time.Duration(secs) * time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	role, ok := s.roles[roleARN]
	// The external id is a shared secret between the role owner and Panda:
	// compare it in constant time and answer the same AccessDenied either way.
	if !ok || subtle.ConstantTimeCompare([]byte(role.ExternalID), []byte(req.form.Get("ExternalId"))) != 1 {
		return nil, errf(403, "AccessDenied", "User: "+req.caller.arn+" is not authorized to perform: sts:AssumeRole on resource: "+roleARN)
	}
	roleName := m[2][strings.LastIndex(m[2], "/")+1:]
	id := identity{
		secret:  randomHex(20),
		token:   "IQoJb3JpZ2luX2Vj" + randomHex(64),
		expires: time.Now().Add(duration),
		arn:     "arn:aws:sts::" + m[1] + ":assumed-role/" + roleName + "/" + session,
		userID:  "AROA" + randomUpper(17) + ":" + session,
		account: m[1],
	}
	key := "ASIA" + randomUpper(16)
	s.keys[key] = id
	return assumeRoleResult{
		AccessKeyID:     key,
		SecretAccessKey: id.secret,
		SessionToken:    id.token,
		Expiration:      id.expires.UTC().Format(time.RFC3339),
		AssumedRoleID:   id.userID,
		Arn:             id.arn,
	}, nil
}

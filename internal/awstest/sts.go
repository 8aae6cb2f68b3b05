package awstest

import (
	"crypto/subtle"
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Role is an IAM role that AssumeRole may assume.
type Role struct {
	// ARN is the role's ARN, arn:aws:iam::ACCOUNT:role/NAME.
	ARN string
	// ExternalID, when set, must be passed by AssumeRole callers (the
	// confused-deputy guard for third-party access).
	ExternalID string
	// Trusted are the principals the role's trust policy names, as IAM
	// spells them: an account root ("arn:aws:iam::111122223333:root", which
	// trusts every user and role of that account), a user ARN or a role ARN
	// (which trusts every session of that role). If empty, the root of the
	// server's own account (Account), which is how most roles are made.
	Trusted []string
	// MaxSessionDuration is the role's maximum session duration
	// (IAM: 1 to 12 hours). If zero, one hour, IAM's default.
	MaxSessionDuration time.Duration
}

// AddRole registers a role that the principals it trusts may assume.
func (s *Server) AddRole(r Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(r.Trusted) == 0 {
		r.Trusted = []string{"arn:aws:iam::" + s.account + ":root"}
	}
	s.roles[r.ARN] = r
}

// AddUser makes a long-term access key pair of an IAM user called name in
// account and returns it: a second account's keys, for a test that deploys to
// two accounts through one server.
func (s *Server) AddUser(account, name string) aws.Credentials {
	creds := aws.Credentials{AccessKeyID: "AKIA" + randomUpper(16), SecretAccessKey: randomHex(20)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[creds.AccessKeyID] = identity{
		secret:  creds.SecretAccessKey,
		arn:     "arn:aws:iam::" + account + ":user/" + name,
		userID:  "AIDA" + randomUpper(17),
		account: account,
	}
	return creds
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
	// RoleSessionName: "Length Constraints: Minimum length of 2. Maximum
	// length of 64. Pattern: [\w+=,.@-]*" (AWS STS API Reference, AssumeRole,
	// Request Parameters; the same in aws-sdk-go-v2's sts.AssumeRoleInput).
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	// RoleArn: 20 to 2048 characters (AssumeRole, Request Parameters); the
	// shape is IAM's ARN format for roles, with an optional path.
	roleARNRE = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/([\w+=,.@/-]{1,512})$`)
	// assumedRoleRE is the ARN of a role session, the caller in role chaining.
	assumedRoleRE = regexp.MustCompile(`^arn:aws:sts::(\d{12}):assumed-role/([^/]+)/`)
)

// assumeRole plays AssumeRole (AWS STS API Reference, Version 2011-06-15):
// parameter validation first (ValidationError, 400), then the role's trust
// policy and external id (AccessDenied, 403), then the session limits.
func (s *Server) assumeRole(req request) (any, *apiError) {
	roleARN, session := req.form.Get("RoleArn"), req.form.Get("RoleSessionName")
	if !sessionNameRE.MatchString(session) {
		return nil, errf(400, "ValidationError", "1 validation error detected: Value '"+session+"' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
	}
	m := roleARNRE.FindStringSubmatch(roleARN)
	if m == nil || len(roleARN) < 20 || len(roleARN) > 2048 {
		return nil, errf(400, "ValidationError", roleARN+" is invalid")
	}
	// DurationSeconds: "Valid Range: Minimum value of 900. Maximum value of
	// 43200." (AssumeRole, Request Parameters); the default is 3600.
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
	// compare it in constant time and answer the same AccessDenied either way,
	// as AWS does for a role that does not exist, a trust policy that does not
	// name the caller, and a wrong or missing sts:ExternalId condition. A role
	// without that condition ignores an ExternalId sent anyway (IAM User
	// Guide, "Access to AWS accounts owned by third parties": the external
	// id is checked by the trust policy's sts:ExternalId condition).
	if !ok || !trusts(role, req.caller) || (role.ExternalID != "" && subtle.ConstantTimeCompare([]byte(role.ExternalID), []byte(req.form.Get("ExternalId"))) != 1) {
		return nil, errf(403, "AccessDenied", "User: "+req.caller.arn+" is not authorized to perform: sts:AssumeRole on resource: "+roleARN)
	}
	// The request fails when DurationSeconds exceeds the role's maximum
	// session duration, and when a role session (role chaining) asks for more
	// than one hour (AssumeRole, DurationSeconds; IAM User Guide, "Role
	// chaining").
	if maxDur := role.maxSession(); duration > maxDur {
		return nil, errf(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	if assumedRoleRE.MatchString(req.caller.arn) && duration > time.Hour {
		return nil, errf(400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
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

func (r Role) maxSession() time.Duration {
	if r.MaxSessionDuration > 0 {
		return r.MaxSessionDuration
	}
	return time.Hour
}

// trusts reports whether the role's trust policy names the caller: its
// account's root, its own ARN, or (for a role session) the role it is a
// session of (IAM User Guide, "AWS JSON policy elements: Principal").
func trusts(r Role, caller identity) bool {
	principal := caller.arn
	if m := assumedRoleRE.FindStringSubmatch(caller.arn); m != nil {
		principal = "arn:aws:iam::" + m[1] + ":role/" + m[2]
	}
	for _, p := range r.Trusted {
		if p == principal || p == "arn:aws:iam::"+caller.account+":root" {
			return true
		}
	}
	return false
}

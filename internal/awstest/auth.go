package awstest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// identity is a principal the server accepts requests from.
type identity struct {
	secret  string
	token   string    // session token, set for temporary credentials
	expires time.Time // zero for long-term keys
	arn     string
	userID  string
	account string
}

// maxClockSkew is how far X-Amz-Date may be from the server's clock, as in AWS.
const maxClockSkew = 5 * time.Minute

// sigv4Auth is the parsed Authorization header of a SigV4-signed request.
type sigv4Auth struct {
	accessKey     string
	date, region  string
	service       string
	signedHeaders []string
	signature     string
}

func accessKeyOf(r *http.Request) string {
	a, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return ""
	}
	return a.accessKey
}

func parseAuthorization(h string) (sigv4Auth, bool) {
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return sigv4Auth{}, false
	}
	var a sigv4Auth
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" {
				return sigv4Auth{}, false
			}
			a.accessKey, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	return a, a.accessKey != "" && a.signature != "" && len(a.signedHeaders) > 0
}

// authenticate verifies the request's SigV4 signature by signing the received
// request again with the secret the server holds for its access key, and
// answers with the error AWS gives for each way a request can be wrong.
func (s *Server) authenticate(r *http.Request, body []byte, service string) (identity, *apiError) {
	rej := rejectionsFor(service)
	a, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return identity{}, rej.missing
	}
	s.mu.Lock()
	id, known := s.keys[a.accessKey]
	s.mu.Unlock()
	if !known {
		return identity{}, rej.unknownKey
	}
	// Compare the token in constant time: it is a credential.
	if subtle.ConstantTimeCompare([]byte(id.token), []byte(r.Header.Get("X-Amz-Security-Token"))) != 1 {
		return identity{}, rej.unknownKey
	}
	if !id.expires.IsZero() && time.Now().After(id.expires) {
		return identity{}, errf(rej.badSignature.status, "ExpiredTokenException", "The security token included in the request is expired")
	}
	if a.service != service || a.region != s.region {
		return identity{}, errf(rej.badSignature.status, rej.badSignature.code,
			"Credential should be scoped to a valid region and to correct service: '"+service+"'.")
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || !strings.HasPrefix(r.Header.Get("X-Amz-Date"), a.date) {
		return identity{}, rej.badSignature
	}
	if d := time.Since(signedAt); d > maxClockSkew || d < -maxClockSkew {
		return identity{}, errf(rej.badSignature.status, rej.badSignature.code, "Signature expired: "+signedAt.Format("20060102T150405Z")+" is now earlier or later than the allowed skew.")
	}
	want, err := expectedSignature(r, body, a, id, signedAt)
	// hmac.Equal compares in constant time: a timing oracle would leak the signature.
	if err != nil || !hmac.Equal([]byte(want), []byte(a.signature)) {
		return identity{}, rej.badSignature
	}
	return id, nil
}

// expectedSignature signs a copy of r carrying only the headers the client
// said it signed (the transport adds others, like Accept-Encoding, afterwards).
func expectedSignature(r *http.Request, body []byte, a sigv4Auth, id identity, at time.Time) (string, error) {
	// #nosec G704 -- never sent: the copy only exists to be signed.
	c, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return "", err
	}
	for _, h := range a.signedHeaders {
		switch h {
		case "host":
		case "content-length":
			c.ContentLength = r.ContentLength
		default:
			c.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: a.accessKey, SecretAccessKey: id.secret, SessionToken: id.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, c, hex.EncodeToString(sum[:]), a.service, a.region, at); err != nil {
		return "", err
	}
	got, ok := parseAuthorization(c.Header.Get("Authorization"))
	if !ok {
		return "", nil
	}
	return got.signature, nil
}

type rejectionSet struct{ missing, unknownKey, badSignature *apiError }

// rejectionsFor returns AWS's answers to bad authentication: the JSON
// services and STS's query protocol word them differently.
func rejectionsFor(service string) rejectionSet {
	const badSig = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	if service == ServiceSTS || service == ServiceELB {
		return rejectionSet{
			missing:      errf(403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
			unknownKey:   errf(403, "InvalidClientTokenId", "The security token included in the request is invalid."),
			badSignature: errf(403, "SignatureDoesNotMatch", badSig),
		}
	}
	return rejectionSet{
		missing:      errf(400, "MissingAuthenticationTokenException", "Missing Authentication Token"),
		unknownKey:   errf(400, "UnrecognizedClientException", "The security token included in the request is invalid."),
		badSignature: errf(400, "InvalidSignatureException", badSig),
	}
}

package awstest

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Service names, as recorded in Call.Service. They are also the SigV4 signing names.
const (
	ServiceSTS    = "sts"
	ServiceECR    = "ecr"
	ServiceSFN    = "states"
	ServiceEvents = "events"
)

// elbVersion is the query API version of Elastic Load Balancing v2.
const elbVersion = "2015-12-01"

// Call is one request the server received, recorded before it was answered.
type Call struct {
	Service   string // ServiceSTS, ServiceECR, ServiceSFN or ServiceEvents
	Operation string // e.g. "StartExecution"
	// Input is the request body: JSON for ECR, Step Functions and EventBridge,
	// the form-encoded query for STS.
	Input []byte
	// AccessKeyID is the key the request was signed with, empty when unsigned.
	AccessKeyID string
	// Principal is the ARN of who signed it, once the signature was verified:
	// a user (arn:aws:iam::ACCOUNT:user/NAME) or a role session
	// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), as GetCallerIdentity
	// and CloudTrail name them. Empty when the request was not authenticated.
	Principal string
	// Account is the principal's account: the account the call acts in.
	Account string
	// ErrorCode is the error answered ("" for success), e.g. "ThrottlingException".
	ErrorCode string
	Time      time.Time
}

// Calls returns a copy of every call received so far, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCount returns how many calls of operation op were received, answered or not.
func (s *Server) CallCount(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Operation == op {
			n++
		}
	}
	return n
}

type fault struct{ status int }

// Throttle makes the next n calls of operation op answer a throttling error
// (HTTP 400 ThrottlingException; "Throttling" for STS), as AWS does.
func (s *Server) Throttle(op string, n int) { s.addFault(op, n, http.StatusBadRequest) }

// FailInternal makes the next n calls of operation op answer HTTP 500 InternalFailure.
func (s *Server) FailInternal(op string, n int) { s.addFault(op, n, http.StatusInternalServerError) }

// Unavailable makes the next n calls of operation op answer HTTP 503 ServiceUnavailable.
func (s *Server) Unavailable(op string, n int) { s.addFault(op, n, http.StatusServiceUnavailable) }

func (s *Server) addFault(op string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[op] = append(s.faults[op], fault{status: status})
	}
}

// ThrottleNth makes the nth call of operation op (counting every call the
// server received, from 1) answer a throttling error, as Throttle does.
func (s *Server) ThrottleNth(op string, nth int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nthFaults[op] = append(s.nthFaults[op], nth)
}

func (s *Server) takeFault(service, op string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opCount[op]++
	if i := slices.Index(s.nthFaults[op], s.opCount[op]); i >= 0 {
		s.nthFaults[op] = slices.Delete(s.nthFaults[op], i, i+1)
		return throttling(service)
	}
	q := s.faults[op]
	if len(q) == 0 {
		return nil
	}
	s.faults[op] = q[1:]
	switch q[0].status {
	case http.StatusBadRequest:
		return throttling(service)
	case http.StatusServiceUnavailable:
		return errf(503, "ServiceUnavailable", "Service is unavailable, please try again later")
	}
	return errf(500, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure.")
}

// throttling is how a service answers a throttled call: the query protocol
// services (STS, ELBv2) with the code "Throttling", the JSON ones with
// "ThrottlingException" (ECS API reference, Common errors: ThrottlingException,
// HTTP 400, "The request was denied due to request throttling").
func throttling(service string) *apiError {
	if service == ServiceSTS || service == ServiceELB {
		return errf(400, "Throttling", "Rate exceeded")
	}
	return errf(400, "ThrottlingException", "Rate exceeded")
}

// apiError is an error answer in AWS's terms.
type apiError struct {
	status  int
	code    string
	message string
}

func errf(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// request is one decoded request.
type request struct {
	service string
	op      string
	body    []byte
	form    url.Values // STS only
	caller  identity
}

// jsonTargets maps X-Amz-Target prefixes to the service they address.
func jsonTargets() map[string]string {
	return map[string]string{
		"AmazonEC2ContainerRegistry_V20150921.": ServiceECR,
		"AWSStepFunctions.":                     ServiceSFN,
		"AWSEvents.":                            ServiceEvents,
		"AmazonEC2ContainerServiceV20141113.":   ServiceECS,
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, aerr := parseRequest(r, body)
	call := Call{Service: req.service, Operation: req.op, Input: body, AccessKeyID: accessKeyOf(r), Time: time.Now()}
	if aerr == nil {
		req.caller, aerr = s.authenticate(r, body, req.service)
		call.Principal, call.Account = req.caller.arn, req.caller.account
	}
	if aerr == nil {
		aerr = s.takeFault(req.service, req.op)
	}
	var out any
	if aerr == nil {
		out, aerr = s.handle(req)
	}
	if aerr != nil {
		call.ErrorCode = aerr.code
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	s.answer(w, req, out, aerr)
}

func parseRequest(r *http.Request, body []byte) (request, *apiError) {
	if r.Method != http.MethodPost {
		return request{}, errf(400, "UnknownOperationException", "method not allowed")
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		for prefix, svc := range jsonTargets() {
			if op, ok := strings.CutPrefix(target, prefix); ok {
				return request{service: svc, op: op, body: body}, nil
			}
		}
		return request{service: ServiceSFN}, errf(400, "UnknownOperationException", "unknown target "+target)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Action") == "" {
		return request{service: ServiceSTS}, errf(400, "MissingAction", "Missing Action")
	}
	if form.Get("Version") == elbVersion {
		return request{service: ServiceELB, op: form.Get("Action"), form: form, body: body}, nil
	}
	if v := form.Get("Version"); v != "2011-06-15" {
		return request{service: ServiceSTS, op: form.Get("Action")}, errf(400, "InvalidAction", "Could not find operation "+form.Get("Action")+" for version "+v)
	}
	return request{service: ServiceSTS, op: form.Get("Action"), form: form, body: body}, nil
}

func (s *Server) handle(req request) (any, *apiError) {
	switch req.service {
	case ServiceSTS:
		return s.handleSTS(req)
	case ServiceECR:
		return s.handleECR(req)
	case ServiceSFN:
		return s.handleSFN(req)
	case ServiceEvents:
		return s.handleEvents(req)
	case ServiceECS:
		return s.handleECS(req)
	case ServiceELB:
		return s.handleELB(req)
	}
	return nil, errf(400, "UnknownOperationException", "unknown service")
}

func (s *Server) answer(w http.ResponseWriter, req request, out any, aerr *apiError) {
	reqID := randomHex(16)
	if req.service == ServiceSTS || req.service == ServiceELB {
		ns := "https://sts.amazonaws.com/doc/2011-06-15/"
		if req.service == ServiceELB {
			ns = elbNamespace
		}
		writeQuery(w, ns, req.op, reqID, out, aerr)
		return
	}
	w.Header().Set("x-amzn-RequestId", reqID)
	ct := "application/x-amz-json-1.1"
	if req.service == ServiceSFN {
		ct = "application/x-amz-json-1.0"
	}
	w.Header().Set("Content-Type", ct)
	if aerr != nil {
		w.WriteHeader(aerr.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": aerr.code, "message": aerr.message})
		return
	}
	if req.service == ServiceECS {
		b, err := wireJSON(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(b) // #nosec G705 -- an AWS JSON answer (application/x-amz-json-1.1), never HTML
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// writeQuery answers in the AWS query protocol: <OpResponse><OpResult>…</OpResult>
// <ResponseMetadata/></OpResponse>, or an <ErrorResponse>.
func writeQuery(w http.ResponseWriter, ns, op, reqID string, out any, aerr *apiError) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	if aerr != nil {
		typ := "Sender"
		if aerr.status >= 500 {
			typ = "Receiver"
		}
		w.WriteHeader(aerr.status)
		_ = xml.NewEncoder(w).Encode(struct {
			XMLName   xml.Name `xml:"ErrorResponse"`
			NS        string   `xml:"xmlns,attr"`
			Type      string   `xml:"Error>Type"`
			Code      string   `xml:"Error>Code"`
			Message   string   `xml:"Error>Message"`
			RequestID string   `xml:"RequestId"`
		}{NS: ns, Type: typ, Code: aerr.code, Message: aerr.message, RequestID: reqID})
		return
	}
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName   xml.Name
		NS        string `xml:"xmlns,attr"`
		Result    any
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}{XMLName: xml.Name{Local: op + "Response"}, NS: ns, Result: out, RequestID: reqID})
}

// decode unmarshals a JSON request body, answering like AWS when it is malformed.
func decode(body []byte, v any) *apiError {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf(400, "SerializationException", "could not parse request body")
	}
	return nil
}

// epoch is a timestamp in the JSON protocols' wire format: seconds since the
// epoch, with a fraction.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	secs := float64(t.UnixMilli()) / 1000
	return json.Marshal(math.Round(secs*1000) / 1000)
}

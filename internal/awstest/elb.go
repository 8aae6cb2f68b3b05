package awstest

import (
	"encoding/xml"
	"net/url"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// elbNamespace is the XML namespace of Elastic Load Balancing v2 answers
// (API version 2015-12-01), as in the API reference's example responses.
const elbNamespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"

// elbErr is an ELBv2 client error: HTTP 400 with the query protocol's
// <ErrorResponse><Error><Type>Sender</Type><Code>… (the codes are the
// awsQueryError codes of aws-sdk-go-v2 elasticloadbalancingv2/types, e.g.
// ListenerNotFoundException.ErrorCode() "ListenerNotFound").
func elbErr(code, message string) *apiError { return errf(400, code, message) }

// handleELB answers the ELBv2 operations the blue/green definition reads, in
// the query protocol: form-encoded Action=…&Version=2015-12-01, lists as
// Name.member.N.
func (s *Server) handleELB(req request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.op {
	case "DescribeListeners":
		out, aerr := s.describeListeners(&elasticloadbalancingv2.DescribeListenersInput{
			ListenerArns: formList(req.form, "ListenerArns"), LoadBalancerArn: formString(req.form, "LoadBalancerArn"),
		})
		if aerr != nil {
			return nil, aerr
		}
		return xmlListeners(out), nil
	case "DescribeLoadBalancers":
		out, aerr := s.describeLoadBalancers(&elasticloadbalancingv2.DescribeLoadBalancersInput{
			LoadBalancerArns: formList(req.form, "LoadBalancerArns"), Names: formList(req.form, "Names"),
		})
		if aerr != nil {
			return nil, aerr
		}
		return xmlLoadBalancers(out), nil
	}
	return nil, errf(400, "InvalidAction", "Could not find operation "+req.op+" for version 2015-12-01")
}

func formList(f url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := f[name+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func formString(f url.Values, name string) *string {
	if v := f.Get(name); v != "" {
		return &v
	}
	return nil
}

func (s *Server) describeListeners(in *elasticloadbalancingv2.DescribeListenersInput) (*elasticloadbalancingv2.DescribeListenersOutput, *apiError) {
	// ELBv2 API reference, DescribeListeners: "You must specify either a load
	// balancer or one or more listeners."
	if (len(in.ListenerArns) == 0) == (in.LoadBalancerArn == nil) {
		return nil, elbErr("ValidationError", "You must specify either listener ARNs or a load balancer ARN")
	}
	out := &elasticloadbalancingv2.DescribeListenersOutput{Listeners: []elbtypes.Listener{}}
	for _, arn := range in.ListenerArns {
		l, ok := s.listeners[arn]
		if !ok {
			// Errors: ListenerNotFound "The specified listener does not exist."
			return nil, elbErr("ListenerNotFound", "One or more listeners not found")
		}
		out.Listeners = append(out.Listeners, *l)
	}
	if in.LoadBalancerArn != nil {
		if _, ok := s.loadBalancers[*in.LoadBalancerArn]; !ok {
			return nil, elbErr("LoadBalancerNotFound", "One or more load balancers not found")
		}
		arns := make([]string, 0, len(s.listeners))
		for arn, l := range s.listeners {
			if aws.ToString(l.LoadBalancerArn) == *in.LoadBalancerArn {
				arns = append(arns, arn)
			}
		}
		sort.Strings(arns)
		for _, arn := range arns {
			out.Listeners = append(out.Listeners, *s.listeners[arn])
		}
	}
	return out, nil
}

func (s *Server) describeLoadBalancers(in *elasticloadbalancingv2.DescribeLoadBalancersInput) (*elasticloadbalancingv2.DescribeLoadBalancersOutput, *apiError) {
	// ELBv2 API reference, DescribeLoadBalancers: "You can specify up to 20
	// load balancers" (also aws-sdk-go-v2 elasticloadbalancingv2
	// DescribeLoadBalancersInput.LoadBalancerArns). Not modelled: ELBv2's
	// refusal of Names together with LoadBalancerArns.
	if len(in.LoadBalancerArns) > 20 {
		return nil, elbErr("ValidationError", "A maximum of 20 load balancer ARNs can be specified")
	}
	out := &elasticloadbalancingv2.DescribeLoadBalancersOutput{LoadBalancers: []elbtypes.LoadBalancer{}}
	for _, arn := range in.LoadBalancerArns {
		lb, ok := s.loadBalancers[arn]
		if !ok {
			// Errors: LoadBalancerNotFound "The specified load balancer does not exist."
			return nil, elbErr("LoadBalancerNotFound", "One or more load balancers not found")
		}
		out.LoadBalancers = append(out.LoadBalancers, *lb)
	}
	for _, name := range in.Names {
		found := false
		for _, lb := range s.loadBalancers {
			if aws.ToString(lb.LoadBalancerName) == name {
				out.LoadBalancers = append(out.LoadBalancers, *lb)
				found = true
			}
		}
		if !found {
			return nil, elbErr("LoadBalancerNotFound", "Load balancers '["+name+"]' not found")
		}
	}
	return out, nil
}

// The query protocol's answer shapes: elements named as the API's members,
// lists of <member>.
type xmlListener struct {
	ListenerArn     string `xml:"ListenerArn"`
	LoadBalancerArn string `xml:"LoadBalancerArn"`
	Port            int32  `xml:"Port"`
	Protocol        string `xml:"Protocol"`
}

type xmlLoadBalancer struct {
	LoadBalancerArn  string `xml:"LoadBalancerArn"`
	LoadBalancerName string `xml:"LoadBalancerName"`
	DNSName          string `xml:"DNSName"`
	Scheme           string `xml:"Scheme"`
	Type             string `xml:"Type"`
	State            string `xml:"State>Code"`
}

func xmlListeners(out *elasticloadbalancingv2.DescribeListenersOutput) any {
	r := struct {
		XMLName   xml.Name      `xml:"DescribeListenersResult"`
		Listeners []xmlListener `xml:"Listeners>member"`
	}{}
	for _, l := range out.Listeners {
		r.Listeners = append(r.Listeners, xmlListener{aws.ToString(l.ListenerArn), aws.ToString(l.LoadBalancerArn), aws.ToInt32(l.Port), string(l.Protocol)})
	}
	return r
}

func xmlLoadBalancers(out *elasticloadbalancingv2.DescribeLoadBalancersOutput) any {
	r := struct {
		XMLName       xml.Name          `xml:"DescribeLoadBalancersResult"`
		LoadBalancers []xmlLoadBalancer `xml:"LoadBalancers>member"`
	}{}
	for _, lb := range out.LoadBalancers {
		state := ""
		if lb.State != nil {
			state = string(lb.State.Code)
		}
		r.LoadBalancers = append(r.LoadBalancers, xmlLoadBalancer{aws.ToString(lb.LoadBalancerArn), aws.ToString(lb.LoadBalancerName), aws.ToString(lb.DNSName), string(lb.Scheme), string(lb.Type), state})
	}
	return r
}

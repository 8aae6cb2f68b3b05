package awstest

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// Scan scripts how ECR's scan of an image goes, as DescribeImageScanFindings
// answers it. The shapes are aws-sdk-go-v2's service/ecr/types, which are the
// ECR API reference's ("DescribeImageScanFindings", "ImageScanFindings",
// "ImageScanFinding", "EnhancedImageScanFinding", "ImageScanStatus").
type Scan struct {
	// NotFound is how many calls are answered ScanNotFoundException first:
	// right after a push the scan does not exist yet.
	NotFound int
	// InProgress is how many calls then answer IN_PROGRESS (PENDING when
	// Enhanced: "PENDING: The scan is in progress, and the findings aren't
	// available yet", ImageScanStatus in the SDKs' documentation).
	InProgress int
	// Status is the state after that. If empty, COMPLETE (ACTIVE when
	// Enhanced: "The scan is complete and the findings are available").
	// FAILED and UNSUPPORTED_IMAGE carry Description and no findings.
	Status      ecrtypes.ScanStatus
	Description string
	// Enhanced makes this an Amazon Inspector (enhanced) scan: its findings
	// are EnhancedFindings, and Findings must be empty. A basic scan answers
	// Findings only.
	Enhanced         bool
	Findings         []ecrtypes.ImageScanFinding
	EnhancedFindings []ecrtypes.EnhancedImageScanFinding
}

type scanState struct {
	Scan
	calls int
}

// ScriptScan sets how the scan goes of every image of repository name that
// has no script of its own (see ScriptImageScan). Without a script, an image
// of a repository with scan-on-push is scanned with no findings, and one of a
// repository without it has no scan (ScanNotFoundException).
func (s *Server) ScriptScan(name string, scan Scan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(name).script = &scan
}

// ScriptImageScan sets how the scan of the image with digest goes.
func (s *Server) ScriptImageScan(name, digest string, scan Scan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(name)
	if r.scans == nil {
		r.scans = map[string]*scanState{}
	}
	r.scans[digest] = &scanState{Scan: scan}
}

// repo returns repository name, creating it as AddImage does. s.mu is held.
func (s *Server) repo(name string) *repository {
	r, ok := s.repos[name]
	if !ok {
		r = &repository{name: name, created: time.Now(), mutability: "MUTABLE"}
		s.repos[name] = r
	}
	return r
}

// maxScanPage is DescribeImageScanFindings' maxResults range and default:
// "This value can be between 1 and 1000. If this parameter is not used, then
// DescribeImageScanFindings returns up to 100 results" (API reference).
const (
	maxScanPage     = 1000
	defaultScanPage = 100
)

func (s *Server) describeImageScanFindings(req request) (any, *apiError) {
	var in ecr.DescribeImageScanFindingsInput
	if err := decodeShape(req.body, &in); err != nil {
		return nil, err
	}
	// repositoryName and imageId are required members (API reference).
	if in.RepositoryName == nil || in.ImageId == nil || (in.ImageId.ImageDigest == nil && in.ImageId.ImageTag == nil) {
		return nil, errf(400, "InvalidParameterException", "repositoryName and imageId are required")
	}
	r, ok := s.repos[*in.RepositoryName]
	if !ok {
		return nil, errf(400, "RepositoryNotFoundException", "The repository with name '"+*in.RepositoryName+"' does not exist in the registry with id '"+s.account+"'")
	}
	img, ok := s.findImage(r, in.ImageId)
	if !ok {
		return nil, errf(400, "ImageNotFoundException", "The image with imageId {imageDigest:'"+aws.ToString(in.ImageId.ImageDigest)+"', imageTag:'"+aws.ToString(in.ImageId.ImageTag)+"'} does not exist within the repository with name '"+r.name+"' in the registry with id '"+s.account+"'")
	}
	size := defaultScanPage
	if in.MaxResults != nil {
		if n := int(*in.MaxResults); n < 1 || n > maxScanPage {
			return nil, errf(400, "InvalidParameterException", "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and 1000'")
		} else {
			size = n
		}
	}
	st := s.scanOf(r, img.Digest)
	st.calls++
	status := st.status()
	if status == "" {
		return nil, errf(400, "ScanNotFoundException", "Image scan does not exist for the image with '{imageDigest:'"+img.Digest+"', imageTag:'null'}' in the repository with name '"+r.name+"' in the registry with id '"+s.account+"'")
	}
	out := &ecr.DescribeImageScanFindingsOutput{
		RegistryId:      aws.String(s.account),
		RepositoryName:  aws.String(r.name),
		ImageId:         &ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: firstTag(img)},
		ImageScanStatus: &ecrtypes.ImageScanStatus{Status: status, Description: aws.String(st.description(status))},
	}
	if status != ecrtypes.ScanStatusComplete && status != ecrtypes.ScanStatusActive {
		return answer(out)
	}
	resource := r.name + "@" + img.Digest
	from, _, aerr := decodeToken(in.NextToken, resource)
	if aerr != nil {
		return nil, aerr
	}
	findings := &ecrtypes.ImageScanFindings{
		ImageScanCompletedAt:         aws.Time(img.PushedAt.Add(time.Second)),
		VulnerabilitySourceUpdatedAt: aws.Time(img.PushedAt),
		FindingSeverityCounts:        st.counts(),
	}
	total := len(st.Findings) + len(st.EnhancedFindings)
	end := min(int(from)+size, total)
	if int(from) > total {
		return nil, errf(400, "InvalidParameterException", "Invalid parameter at 'nextToken'")
	}
	if st.Enhanced {
		findings.EnhancedFindings = st.EnhancedFindings[from:end]
	} else {
		findings.Findings = st.Findings[from:end]
	}
	out.ImageScanFindings = findings
	if end < total {
		out.NextToken = aws.String(encodeToken(resource, int64(end)))
	}
	return answer(out)
}

// answer spells an SDK output shape for the JSON 1.1 wire.
func answer(out any) (any, *apiError) {
	b, err := wireJSON(out)
	if err != nil {
		return nil, errf(500, "ServerException", err.Error())
	}
	return b, nil
}

// findImage finds the image an ImageIdentifier names: one the test added, or
// one pushed to the registry behind WithRegistryURL, which is where ECR keeps
// its images (the registry is asked for the manifest, as ECR would know it).
// s.mu is held.
func (s *Server) findImage(r *repository, id *ecrtypes.ImageIdentifier) (Image, bool) {
	for _, img := range r.images {
		if (id.ImageDigest == nil || img.Digest == *id.ImageDigest) && (id.ImageTag == nil || contains(img.Tags, *id.ImageTag)) {
			return img, true
		}
	}
	ref := aws.ToString(id.ImageDigest)
	if ref == "" {
		ref = aws.ToString(id.ImageTag)
	}
	digest, ok := s.registryManifest(r.name, ref)
	if !ok {
		return Image{}, false
	}
	img := Image{Digest: digest, PushedAt: time.Now()}
	if id.ImageTag != nil {
		img.Tags = []string{*id.ImageTag}
	}
	r.images = append(r.images, img)
	return img, true
}

// registryManifest asks the registry for repository's manifest ref and
// returns its digest. s.mu is held; the registry never calls back here.
func (s *Server) registryManifest(repository, ref string) (string, bool) {
	if s.registryURL == "" || ref == "" {
		return "", false
	}
	ctx, cancel := context.WithTimeout(s.runCtx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.registryURL+"/v2/"+repository+"/manifests/"+ref, nil)
	if err != nil {
		return "", false
	}
	req.SetBasicAuth(s.RegistryAuth())
	for _, mt := range []string{"application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"} {
		req.Header.Add("Accept", mt)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false
	}
	_ = resp.Body.Close()
	digest := resp.Header.Get("Docker-Content-Digest")
	return digest, resp.StatusCode == http.StatusOK && digest != ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func firstTag(img Image) *string {
	if len(img.Tags) == 0 {
		return nil
	}
	return aws.String(img.Tags[0])
}

// scanOf returns the scan state of digest, from its script, the
// repository's, or the default. s.mu is held.
func (s *Server) scanOf(r *repository, digest string) *scanState {
	if st, ok := r.scans[digest]; ok {
		return st
	}
	st := &scanState{}
	switch {
	case r.script != nil:
		st.Scan = *r.script
	case !r.scanOnPush:
		st.NotFound = int(^uint(0) >> 1) // never scanned: nothing asked for one
	}
	if r.scans == nil {
		r.scans = map[string]*scanState{}
	}
	r.scans[digest] = st
	return st
}

// status is the scan's status at the current call, "" while it does not exist.
func (st *scanState) status() ecrtypes.ScanStatus {
	switch {
	case st.calls <= st.NotFound:
		return ""
	case st.calls <= st.NotFound+st.InProgress && st.Enhanced:
		return ecrtypes.ScanStatusPending
	case st.calls <= st.NotFound+st.InProgress:
		return ecrtypes.ScanStatusInProgress
	case st.Status != "":
		return st.Status
	case st.Enhanced:
		return ecrtypes.ScanStatusActive
	}
	return ecrtypes.ScanStatusComplete
}

func (st *scanState) description(status ecrtypes.ScanStatus) string {
	if st.Description != "" && status == st.Status {
		return st.Description
	}
	switch status {
	case ecrtypes.ScanStatusComplete:
		return "The scan was completed successfully."
	case ecrtypes.ScanStatusActive:
		return "Continuous scan is selected for image."
	case ecrtypes.ScanStatusFailed:
		return "The scan failed."
	case ecrtypes.ScanStatusUnsupportedImage:
		return "UnsupportedImageError: The operating system and/or package manager are not supported."
	}
	return "The scan is in progress."
}

// counts is findingSeverityCounts: "The image vulnerability counts, sorted
// by severity", over all findings, not one page.
func (st *scanState) counts() map[string]int32 {
	c := map[string]int32{}
	for _, f := range st.Findings {
		c[string(f.Severity)]++
	}
	for _, f := range st.EnhancedFindings {
		c[aws.ToString(f.Severity)]++
	}
	return c
}

// ScanCalls returns how many DescribeImageScanFindings calls asked for digest.
func (s *Server) ScanCalls(name, digest string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.repos[name]; ok {
		if st, ok := r.scans[digest]; ok {
			return st.calls
		}
	}
	return 0
}

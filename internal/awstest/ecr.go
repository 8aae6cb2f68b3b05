package awstest

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"slices"
	"time"
)

type repository struct {
	name       string
	created    time.Time
	scanOnPush bool
	mutability string
	images     []Image
	// scans are the scripted scans by image digest; script is the one for
	// any other image of the repository (see ScriptScan).
	scans  map[string]*scanState
	script *Scan
}

// Image is an image stored in an ECR repository, for DescribeImages.
type Image struct {
	Digest   string // sha256:…
	Tags     []string
	Size     int64
	PushedAt time.Time
}

// AddRepository creates an ECR repository as if it already existed.
func (s *Server) AddRepository(name string, scanOnPush bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[name] = &repository{name: name, created: time.Now(), scanOnPush: scanOnPush, mutability: "MUTABLE"}
}

// AddImage records an image in repository name (created if missing), so
// DescribeImages finds it. A tag already on another image moves to this one.
func (s *Server) AddImage(name string, img Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[name]
	if !ok {
		r = &repository{name: name, created: time.Now(), mutability: "MUTABLE"}
		s.repos[name] = r
	}
	if img.PushedAt.IsZero() {
		img.PushedAt = time.Now()
	}
	for i := range r.images {
		r.images[i].Tags = slices.DeleteFunc(r.images[i].Tags, func(t string) bool { return slices.Contains(img.Tags, t) })
	}
	r.images = append(r.images, img)
}

// ScanOnPush reports whether repository name exists and has scan-on-push enabled.
func (s *Server) ScanOnPush(name string) (enabled, exists bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[name]
	if !ok {
		return false, false
	}
	return r.scanOnPush, true
}

func (s *Server) handleECR(req request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.op {
	case "DescribeRepositories":
		return s.describeRepositories(req)
	case "CreateRepository":
		return s.createRepository(req)
	case "GetAuthorizationToken":
		return s.getAuthorizationToken()
	case "DescribeImages":
		return s.describeImages(req)
	case "DescribeImageScanFindings":
		return s.describeImageScanFindings(req)
	}
	return nil, errf(400, "UnknownOperationException", "unknown operation "+req.op)
}

// repoNameRE is ECR's repository name constraint.
var repoNameRE = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

func (s *Server) repoJSON(r *repository) map[string]any {
	return map[string]any{
		"repositoryArn":              "arn:aws:ecr:" + s.region + ":" + s.account + ":repository/" + r.name,
		"registryId":                 s.account,
		"repositoryName":             r.name,
		"repositoryUri":              s.registryHost() + "/" + r.name,
		"createdAt":                  epoch(r.created),
		"imageTagMutability":         r.mutability,
		"imageScanningConfiguration": map[string]bool{"scanOnPush": r.scanOnPush},
		"encryptionConfiguration":    map[string]string{"encryptionType": "AES256"},
	}
}

// registryHost is the host of repository URIs: the registry URL's host when a
// test set one, else the real ECR host name.
func (s *Server) registryHost() string {
	if u, err := url.Parse(s.registryURL); err == nil && u.Host != "" {
		return u.Host
	}
	return s.account + ".dkr.ecr." + s.region + ".amazonaws.com"
}

func (s *Server) describeRepositories(req request) (any, *apiError) {
	var in struct {
		RepositoryNames []string `json:"repositoryNames"`
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	repos := []map[string]any{}
	if len(in.RepositoryNames) == 0 {
		names := make([]string, 0, len(s.repos))
		for n := range s.repos {
			names = append(names, n)
		}
		slices.Sort(names)
		in.RepositoryNames = names
	}
	for _, n := range in.RepositoryNames {
		r, ok := s.repos[n]
		if !ok {
			return nil, errf(400, "RepositoryNotFoundException", "The repository with name '"+n+"' does not exist in the registry with id '"+s.account+"'")
		}
		repos = append(repos, s.repoJSON(r))
	}
	return map[string]any{"repositories": repos}, nil
}

func (s *Server) createRepository(req request) (any, *apiError) {
	var in struct {
		RepositoryName             string `json:"repositoryName"`
		ImageTagMutability         string `json:"imageTagMutability"`
		ImageScanningConfiguration struct {
			ScanOnPush bool `json:"scanOnPush"`
		} `json:"imageScanningConfiguration"`
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	if len(in.RepositoryName) < 2 || len(in.RepositoryName) > 256 || !repoNameRE.MatchString(in.RepositoryName) {
		return nil, errf(400, "InvalidParameterException", "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''")
	}
	if _, ok := s.repos[in.RepositoryName]; ok {
		return nil, errf(400, "RepositoryAlreadyExistsException", "The repository with name '"+in.RepositoryName+"' already exists in the registry with id '"+s.account+"'")
	}
	r := &repository{name: in.RepositoryName, created: time.Now(), scanOnPush: in.ImageScanningConfiguration.ScanOnPush, mutability: "MUTABLE"}
	if in.ImageTagMutability != "" {
		r.mutability = in.ImageTagMutability
	}
	s.repos[r.name] = r
	return map[string]any{"repository": s.repoJSON(r)}, nil
}

// registryPassword is what GetAuthorizationToken hands out; the test registry
// (if it checks at all) should accept it with user "AWS".
const registryPassword = "awstest-registry-password"

// RegistryAuth returns the user name and password encoded in the tokens
// GetAuthorizationToken answers, so a test registry can check them.
func (s *Server) RegistryAuth() (user, password string) { return "AWS", registryPassword }

func (s *Server) getAuthorizationToken() (any, *apiError) {
	endpoint := s.registryURL
	if endpoint == "" {
		endpoint = "https://" + s.registryHost()
	}
	return map[string]any{"authorizationData": []map[string]any{{
		"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + registryPassword)),
		"expiresAt":          epoch(time.Now().Add(12 * time.Hour)),
		"proxyEndpoint":      endpoint,
	}}}, nil
}

func (s *Server) describeImages(req request) (any, *apiError) {
	var in struct {
		RepositoryName string `json:"repositoryName"`
		ImageIDs       []struct {
			ImageDigest string `json:"imageDigest"`
			ImageTag    string `json:"imageTag"`
		} `json:"imageIds"`
	}
	if err := decode(req.body, &in); err != nil {
		return nil, err
	}
	r, ok := s.repos[in.RepositoryName]
	if !ok {
		return nil, errf(400, "RepositoryNotFoundException", "The repository with name '"+in.RepositoryName+"' does not exist in the registry with id '"+s.account+"'")
	}
	images := r.images
	if len(in.ImageIDs) > 0 {
		images = nil
		for _, id := range in.ImageIDs {
			i := slices.IndexFunc(r.images, func(img Image) bool {
				return (id.ImageDigest == "" || img.Digest == id.ImageDigest) && (id.ImageTag == "" || slices.Contains(img.Tags, id.ImageTag))
			})
			if i < 0 {
				return nil, errf(400, "ImageNotFoundException", "The image with imageId {imageDigest:'"+id.ImageDigest+"', imageTag:'"+id.ImageTag+"'} does not exist within the repository with name '"+r.name+"' in the registry with id '"+s.account+"'")
			}
			images = append(images, r.images[i])
		}
	}
	details := []map[string]any{}
	for _, img := range images {
		details = append(details, map[string]any{
			"registryId":             s.account,
			"repositoryName":         r.name,
			"imageDigest":            img.Digest,
			"imageTags":              append([]string{}, img.Tags...),
			"imageSizeInBytes":       img.Size,
			"imagePushedAt":          epoch(img.PushedAt),
			"imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
		})
	}
	return map[string]any{"imageDetails": details}, nil
}

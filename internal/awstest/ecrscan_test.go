package awstest_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/pandadeploy/panda/internal/awstest"
)

func scanInput(digest string) *ecr.DescribeImageScanFindingsInput {
	return &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("acme-web"), ImageId: &ecrtypes.ImageIdentifier{ImageDigest: aws.String(digest)}}
}

// TestScanLifecycle: the scan does not exist, then runs, then completes with
// its findings, as the SDK reads them.
func TestScanLifecycle(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	srv.AddRepository("acme-web", true)
	srv.AddImage("acme-web", awstest.Image{Digest: "sha256:aaa", Tags: []string{"v1"}})
	srv.ScriptScan("acme-web", awstest.Scan{NotFound: 1, InProgress: 1, Findings: []ecrtypes.ImageScanFinding{{
		Name: aws.String("CVE-2024-0001"), Severity: ecrtypes.FindingSeverityHigh, Uri: aws.String("https://security-tracker.debian.org/tracker/CVE-2024-0001"),
		Attributes: []ecrtypes.Attribute{{Key: aws.String("package_name"), Value: aws.String("openssl")}, {Key: aws.String("package_version"), Value: aws.String("3.0.1")}},
	}}})
	api := ecr.NewFromConfig(srv.Config())
	_, err := api.DescribeImageScanFindings(t.Context(), scanInput("sha256:aaa"))
	var notFound *ecrtypes.ScanNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("first call: %v, want ScanNotFoundException", err)
	}
	out, err := api.DescribeImageScanFindings(t.Context(), scanInput("sha256:aaa"))
	if err != nil || out.ImageScanStatus.Status != ecrtypes.ScanStatusInProgress || out.ImageScanFindings != nil {
		t.Fatalf("second call: %+v, %v; want IN_PROGRESS without findings", out, err)
	}
	out, err = api.DescribeImageScanFindings(t.Context(), scanInput("sha256:aaa"))
	if err != nil || out.ImageScanStatus.Status != ecrtypes.ScanStatusComplete {
		t.Fatalf("third call: %+v, %v; want COMPLETE", out, err)
	}
	f := out.ImageScanFindings
	if len(f.Findings) != 1 || aws.ToString(f.Findings[0].Name) != "CVE-2024-0001" || f.Findings[0].Severity != ecrtypes.FindingSeverityHigh ||
		len(f.Findings[0].Attributes) != 2 || aws.ToString(f.Findings[0].Attributes[0].Value) != "openssl" {
		t.Errorf("findings = %+v", f.Findings)
	}
	if f.FindingSeverityCounts["HIGH"] != 1 || f.ImageScanCompletedAt == nil || aws.ToString(out.ImageId.ImageTag) != "v1" {
		t.Errorf("counts %v, completed %v, tag %v", f.FindingSeverityCounts, f.ImageScanCompletedAt, aws.ToString(out.ImageId.ImageTag))
	}
}

func TestScanOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		scanOnPush bool
		scan       *awstest.Scan
		digest     string
		wantStatus ecrtypes.ScanStatus
		wantCode   string
	}{
		{name: "scan_on_push_default", scanOnPush: true, digest: "sha256:aaa", wantStatus: ecrtypes.ScanStatusComplete},
		{name: "no_scan_on_push", digest: "sha256:aaa", wantCode: "ScanNotFoundException"},
		{name: "failed", scanOnPush: true, scan: &awstest.Scan{Status: ecrtypes.ScanStatusFailed}, digest: "sha256:aaa", wantStatus: ecrtypes.ScanStatusFailed},
		{name: "unsupported", scanOnPush: true, scan: &awstest.Scan{Status: ecrtypes.ScanStatusUnsupportedImage}, digest: "sha256:aaa", wantStatus: ecrtypes.ScanStatusUnsupportedImage},
		{name: "enhanced_pending", scanOnPush: true, scan: &awstest.Scan{Enhanced: true, InProgress: 5}, digest: "sha256:aaa", wantStatus: ecrtypes.ScanStatusPending},
		{name: "enhanced_active", scanOnPush: true, scan: &awstest.Scan{Enhanced: true}, digest: "sha256:aaa", wantStatus: ecrtypes.ScanStatusActive},
		{name: "unknown_image", scanOnPush: true, digest: "sha256:bbb", wantCode: "ImageNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := awstest.NewServer(t)
			srv.AddRepository("acme-web", tt.scanOnPush)
			srv.AddImage("acme-web", awstest.Image{Digest: "sha256:aaa"})
			if tt.scan != nil {
				srv.ScriptScan("acme-web", *tt.scan)
			}
			out, err := ecr.NewFromConfig(srv.Config()).DescribeImageScanFindings(t.Context(), scanInput(tt.digest))
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error %q (%v), want %q", got, err, tt.wantCode)
			}
			if err == nil && out.ImageScanStatus.Status != tt.wantStatus {
				t.Fatalf("status %s, want %s", out.ImageScanStatus.Status, tt.wantStatus)
			}
		})
	}
}

// TestScanFindingsPages: maxResults pages enhanced findings with nextToken,
// 100 by default, and refuses a size over 1000.
func TestScanFindingsPages(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	srv.AddRepository("acme-web", true)
	srv.AddImage("acme-web", awstest.Image{Digest: "sha256:aaa"})
	var findings []ecrtypes.EnhancedImageScanFinding
	for i := range 250 {
		findings = append(findings, ecrtypes.EnhancedImageScanFinding{Severity: aws.String("MEDIUM"), PackageVulnerabilityDetails: &ecrtypes.PackageVulnerabilityDetails{
			VulnerabilityId:    aws.String(fmt.Sprintf("CVE-2024-%04d", i)),
			VulnerablePackages: []ecrtypes.VulnerablePackage{{Name: aws.String("zlib"), Version: aws.String("1.2"), FixedInVersion: aws.String("1.3")}},
		}})
	}
	srv.ScriptScan("acme-web", awstest.Scan{Enhanced: true, EnhancedFindings: findings})
	api := ecr.NewFromConfig(srv.Config())
	var got []string
	pages := 0
	for p := ecr.NewDescribeImageScanFindingsPaginator(api, scanInput("sha256:aaa")); p.HasMorePages(); {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if c := out.ImageScanFindings.FindingSeverityCounts["MEDIUM"]; c != 250 {
			t.Errorf("page %d counts MEDIUM %d, want 250 (over all findings)", pages, c)
		}
		for _, f := range out.ImageScanFindings.EnhancedFindings {
			got = append(got, aws.ToString(f.PackageVulnerabilityDetails.VulnerabilityId))
			if aws.ToString(f.PackageVulnerabilityDetails.VulnerablePackages[0].FixedInVersion) != "1.3" {
				t.Fatalf("fixedInVersion lost: %+v", f.PackageVulnerabilityDetails)
			}
		}
	}
	if pages != 3 || len(got) != 250 || got[0] != "CVE-2024-0000" || got[249] != "CVE-2024-0249" {
		t.Fatalf("%d pages, %d findings (%v … )", pages, len(got), got[:min(3, len(got))])
	}
	in := scanInput("sha256:aaa")
	in.MaxResults = aws.Int32(1001)
	if _, err := api.DescribeImageScanFindings(t.Context(), in); errorCode(err) != "InvalidParameterException" {
		t.Errorf("maxResults 1001: %v, want InvalidParameterException", err)
	}
}

package image_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/pipeline/image"
)

func basicFinding(id string, sev ecrtypes.FindingSeverity, pkg, version string) ecrtypes.ImageScanFinding {
	return ecrtypes.ImageScanFinding{Name: aws.String(id), Severity: sev, Uri: aws.String("https://security-tracker.debian.org/tracker/" + id),
		Attributes: []ecrtypes.Attribute{{Key: aws.String("package_name"), Value: aws.String(pkg)}, {Key: aws.String("package_version"), Value: aws.String(version)}}}
}

func scanPusher(srv *awstest.Server) *image.Pusher {
	return &image.Pusher{Scans: ecr.NewFromConfig(srv.Config())}
}

// TestScanWaitsThenReads: not found and in progress are pending; the
// complete scan's basic findings come back worst first.
func TestScanWaitsThenReads(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	srv.AddImage("acme-web", awstest.Image{Digest: "sha256:aaa"})
	srv.ScriptScan("acme-web", awstest.Scan{NotFound: 1, InProgress: 1, Findings: []ecrtypes.ImageScanFinding{
		basicFinding("CVE-2024-0002", ecrtypes.FindingSeverityMedium, "zlib", "1.2.11"),
		basicFinding("CVE-2024-0001", ecrtypes.FindingSeverityCritical, "openssl", "3.0.1"),
	}})
	p := scanPusher(srv)
	for i, want := range []string{"", "IN_PROGRESS"} {
		rep, err := p.Scan(t.Context(), "acme-web", "sha256:aaa")
		if err != nil || rep.State != image.ScanPending || rep.Status != want {
			t.Fatalf("call %d: %+v, %v; want pending %q", i+1, rep, err, want)
		}
	}
	rep, err := p.Scan(t.Context(), "acme-web", "sha256:aaa")
	if err != nil || rep.State != image.ScanDone {
		t.Fatalf("%+v, %v", rep, err)
	}
	want := []image.Finding{
		{Severity: "CRITICAL", ID: "CVE-2024-0001", Package: "openssl", Installed: "3.0.1", URL: "https://security-tracker.debian.org/tracker/CVE-2024-0001"},
		{Severity: "MEDIUM", ID: "CVE-2024-0002", Package: "zlib", Installed: "1.2.11", URL: "https://security-tracker.debian.org/tracker/CVE-2024-0002"},
	}
	if fmt.Sprint(rep.Findings) != fmt.Sprint(want) {
		t.Fatalf("findings %+v\nwant %+v", rep.Findings, want)
	}
}

// TestScanReadsEveryPage: 1,500 enhanced findings arrive over two pages of
// 1,000, with the fixed versions Inspector names.
func TestScanReadsEveryPage(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	srv.AddImage("acme-web", awstest.Image{Digest: "sha256:aaa"})
	var fs []ecrtypes.EnhancedImageScanFinding
	for i := range 1500 {
		fs = append(fs, ecrtypes.EnhancedImageScanFinding{Severity: aws.String("LOW"), PackageVulnerabilityDetails: &ecrtypes.PackageVulnerabilityDetails{
			VulnerabilityId: aws.String(fmt.Sprintf("CVE-2023-%05d", i)), SourceUrl: aws.String("https://nvd.nist.gov/vuln/detail/x"),
			VulnerablePackages: []ecrtypes.VulnerablePackage{{Name: aws.String("curl"), Version: aws.String("7.0"), FixedInVersion: aws.String("8.0")}},
		}})
	}
	srv.ScriptScan("acme-web", awstest.Scan{Enhanced: true, EnhancedFindings: fs})
	rep, err := scanPusher(srv).Scan(t.Context(), "acme-web", "sha256:aaa")
	if err != nil || rep.State != image.ScanDone || rep.Status != "ACTIVE" {
		t.Fatalf("%+v, %v", rep.Status, err)
	}
	if len(rep.Findings) != 1500 || rep.Findings[1499].ID != "CVE-2023-01499" || rep.Findings[0].Fixed != "8.0" || rep.Findings[0].Package != "curl" {
		t.Fatalf("%d findings, first %+v", len(rep.Findings), rep.Findings[0])
	}
	if n := srv.ScanCalls("acme-web", "sha256:aaa"); n != 2 {
		t.Errorf("%d DescribeImageScanFindings calls, want 2 pages", n)
	}
}

func TestScanUnusable(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	srv.AddImage("acme-web", awstest.Image{Digest: "sha256:aaa"})
	srv.ScriptScan("acme-web", awstest.Scan{Status: ecrtypes.ScanStatusUnsupportedImage})
	rep, err := scanPusher(srv).Scan(t.Context(), "acme-web", "sha256:aaa")
	if err != nil || rep.State != image.ScanUnusable || rep.Status != "UNSUPPORTED_IMAGE" || !strings.Contains(rep.Description, "not supported") {
		t.Fatalf("%+v, %v", rep, err)
	}
}

func TestScanPolicyBlocking(t *testing.T) {
	t.Parallel()
	fs := []image.Finding{{Severity: "CRITICAL", ID: "CVE-1"}, {Severity: "HIGH", ID: "CVE-2"}, {Severity: "MEDIUM", ID: "CVE-3"}, {Severity: "UNTRIAGED", ID: "CVE-4"}}
	tests := []struct {
		name   string
		policy image.ScanPolicy
		want   string
	}{
		{name: "critical", policy: image.ScanPolicy{FailOn: "CRITICAL"}, want: "CVE-1"},
		{name: "high", policy: image.ScanPolicy{FailOn: "HIGH"}, want: "CVE-1 CVE-2"},
		{name: "medium", policy: image.ScanPolicy{FailOn: "MEDIUM"}, want: "CVE-1 CVE-2 CVE-3"},
		{name: "ignored", policy: image.ScanPolicy{FailOn: "HIGH", Ignore: []string{"cve-1"}}, want: "CVE-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, f := range tt.policy.Blocking(fs) {
				got = append(got, f.ID)
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("Blocking = %v, want %s", got, tt.want)
			}
		})
	}
}

func TestFindingsTable(t *testing.T) {
	t.Parallel()
	fs := []image.Finding{
		{Severity: "HIGH", ID: "CVE-1", Package: "evil|pkg\n| x | y |", Installed: "1`2", URL: "https://example.com/CVE-1"},
		{Severity: "LOW", ID: "CVE-2", Package: "ok", URL: "javascript:alert(1)"},
	}
	got := image.FindingsTable(fs, image.ScanPolicy{FailOn: "HIGH", Ignore: []string{"CVE-2"}}, 10000)
	want := "| | Severity | Vulnerability | Package | Installed | Fixed in |\n| --- | --- | --- | --- | --- | --- |\n" +
		"| ⛔ | HIGH | [CVE-1](https://example.com/CVE-1) | evil\\|pkg \\| x \\| y \\| | 1'2 | — |\n" +
		"| ignored | LOW | CVE-2 | ok |  | — |\n"
	if got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
	var many []image.Finding
	for i := range 5000 {
		many = append(many, image.Finding{Severity: "LOW", ID: fmt.Sprintf("CVE-2024-%05d", i), Package: "p"})
	}
	cut := image.FindingsTable(many, image.ScanPolicy{FailOn: "HIGH"}, 20000)
	if len(cut) > 20000 || !strings.HasSuffix(cut, "more findings, not shown.\n") {
		t.Fatalf("cut table is %d bytes, ends %q", len(cut), cut[max(0, len(cut)-60):])
	}
}

package image

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/pandadeploy/panda/ghtext"
)

// ScanState is where ECR's scan of an image stands.
type ScanState int

const (
	// ScanPending: the scan does not exist yet or is running; ask again later.
	ScanPending ScanState = iota
	// ScanDone: the findings are complete (basic COMPLETE, enhanced ACTIVE).
	ScanDone
	// ScanUnusable: ECR will not produce findings for this image (FAILED,
	// UNSUPPORTED_IMAGE, FINDINGS_UNAVAILABLE, …); Status and Description say why.
	ScanUnusable
)

// Finding is one vulnerability ECR reported, from a basic or an enhanced scan.
type Finding struct {
	Severity  string // CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNDEFINED or UNTRIAGED
	ID        string // the CVE (or other vulnerability) id
	Package   string
	Installed string
	Fixed     string // "" when ECR names no fix (basic scans never do)
	URL       string
}

// ScanReport is one reading of an image's scan.
type ScanReport struct {
	State       ScanState
	Status      string // ECR's scan status, "" before the scan exists
	Description string
	// Findings is every finding, worst first.
	Findings []Finding
}

// ScanAPI is the part of the ECR API reading a scan needs. *ecr.Client satisfies it.
type ScanAPI interface {
	DescribeImageScanFindings(ctx context.Context, in *ecr.DescribeImageScanFindingsInput, optFns ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error)
}

var _ ScanAPI = (*ecr.Client)(nil)

// Scan reads ECR's scan of the image digest in repository once, with every
// page of its findings (DescribeImageScanFindings, nextToken). It never
// waits: a scan not finished yet is ScanPending, and the caller asks again
// later. Errors are classified like the push's (access refusals permanent).
func (p *Pusher) Scan(ctx context.Context, repository, digest string) (ScanReport, error) {
	in := &ecr.DescribeImageScanFindingsInput{
		RepositoryName: aws.String(repository),
		ImageId:        &ecrtypes.ImageIdentifier{ImageDigest: aws.String(digest)},
		MaxResults:     aws.Int32(1000),
	}
	if p.Scans == nil {
		return ScanReport{}, errors.New("read a scan: the Pusher has no Scans client")
	}
	var rep ScanReport
	for pages := ecr.NewDescribeImageScanFindingsPaginator(p.Scans, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		var notFound *ecrtypes.ScanNotFoundException
		if errors.As(err, &notFound) {
			// Right after a push the scan may not exist yet (ECR API
			// reference, ScanNotFoundException: "ensure that image
			// scanning is enabled on the repository and try again").
			return ScanReport{State: ScanPending}, nil
		}
		if err != nil {
			return ScanReport{}, awsError(err, "read the scan findings of %s@%s", repository, digest)
		}
		if rep.State = scanState(out.ImageScanStatus); rep.State != ScanDone {
			rep.Status, rep.Description = scanStatus(out.ImageScanStatus)
			return rep, nil
		}
		rep.Status, rep.Description = scanStatus(out.ImageScanStatus)
		rep.Findings = append(rep.Findings, findings(out.ImageScanFindings)...)
	}
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(SeverityRank(b.Severity), SeverityRank(a.Severity)), cmp.Compare(a.ID, b.ID))
	})
	return rep, nil
}

func scanStatus(s *ecrtypes.ImageScanStatus) (string, string) {
	if s == nil {
		return "", ""
	}
	return string(s.Status), aws.ToString(s.Description)
}

// scanState maps ECR's status: COMPLETE (basic) and ACTIVE (enhanced: "the
// scan is complete and the findings are available") are done; IN_PROGRESS
// and PENDING are not yet; every other value names a scan that will not
// produce findings (ImageScanStatus, ECR API reference).
func scanState(s *ecrtypes.ImageScanStatus) ScanState {
	if s == nil {
		return ScanPending
	}
	switch s.Status {
	case ecrtypes.ScanStatusComplete, ecrtypes.ScanStatusActive:
		return ScanDone
	case ecrtypes.ScanStatusInProgress, ecrtypes.ScanStatusPending, "":
		return ScanPending
	}
	return ScanUnusable
}

// findings normalises one page: basic findings name the package in the
// package_name and package_version attributes; enhanced ones in
// packageVulnerabilityDetails, one row per vulnerable package.
func findings(f *ecrtypes.ImageScanFindings) []Finding {
	if f == nil {
		return nil
	}
	var out []Finding
	for _, b := range f.Findings {
		row := Finding{Severity: string(b.Severity), ID: aws.ToString(b.Name), URL: aws.ToString(b.Uri)}
		for _, a := range b.Attributes {
			switch aws.ToString(a.Key) {
			case "package_name":
				row.Package = aws.ToString(a.Value)
			case "package_version":
				row.Installed = aws.ToString(a.Value)
			}
		}
		out = append(out, row)
	}
	for _, e := range f.EnhancedFindings {
		d := e.PackageVulnerabilityDetails
		row := Finding{Severity: aws.ToString(e.Severity), ID: aws.ToString(e.Title)}
		if d == nil {
			out = append(out, row)
			continue
		}
		row.ID = cmp.Or(aws.ToString(d.VulnerabilityId), row.ID)
		row.URL = aws.ToString(d.SourceUrl)
		if row.URL == "" && len(d.ReferenceUrls) > 0 {
			row.URL = d.ReferenceUrls[0]
		}
		if len(d.VulnerablePackages) == 0 {
			out = append(out, row)
		}
		for _, p := range d.VulnerablePackages {
			r := row
			r.Package, r.Installed, r.Fixed = aws.ToString(p.Name), aws.ToString(p.Version), aws.ToString(p.FixedInVersion)
			out = append(out, r)
		}
	}
	return out
}

// SeverityRank orders severities; unknown ones (UNDEFINED, UNTRIAGED) rank 0.
func SeverityRank(s string) int {
	switch strings.ToUpper(s) {
	case "CRITICAL":
		return 5
	case "HIGH":
		return 4
	case "MEDIUM":
		return 3
	case "LOW":
		return 2
	case "INFORMATIONAL":
		return 1
	}
	return 0
}

// ScanPolicy is when findings block a rollout.
type ScanPolicy struct {
	// FailOn is the lowest severity that blocks (CRITICAL, HIGH or MEDIUM).
	FailOn string
	// Ignore lists vulnerability ids that never block, compared without case.
	Ignore []string
}

// Blocking returns the findings that reach the threshold and are not
// ignored. A finding of unknown severity does not block: ECR has not rated
// it, and the table still lists it.
func (p ScanPolicy) Blocking(fs []Finding) []Finding {
	min := SeverityRank(p.FailOn)
	var out []Finding
	for _, f := range fs {
		if min > 0 && SeverityRank(f.Severity) >= min && !p.ignored(f) {
			out = append(out, f)
		}
	}
	return out
}

func (p ScanPolicy) ignored(f Finding) bool {
	return slices.ContainsFunc(p.Ignore, func(id string) bool { return strings.EqualFold(id, f.ID) })
}

// FindingsTable renders the findings as a markdown table of at most
// maxBytes (cut between rows, with a line saying how many were left out),
// marking the blocking and the ignored ones. Every cell is escaped: package
// names and versions come from the image, which the repository controls.
func FindingsTable(fs []Finding, p ScanPolicy, maxBytes int) string {
	if len(fs) == 0 {
		return "ECR's scan found no vulnerabilities.\n"
	}
	var b strings.Builder
	b.WriteString("| | Severity | Vulnerability | Package | Installed | Fixed in |\n| --- | --- | --- | --- | --- | --- |\n")
	min := SeverityRank(p.FailOn)
	for i, f := range fs {
		mark := ""
		switch {
		case p.ignored(f):
			mark = "ignored"
		case min > 0 && SeverityRank(f.Severity) >= min:
			mark = "⛔"
		}
		id := cell(f.ID)
		if strings.HasPrefix(f.URL, "https://") && !strings.ContainsAny(f.URL, " ()<>\n") {
			id = "[" + id + "](" + f.URL + ")"
		}
		row := fmt.Sprintf("| %s | %s | %s | %s | %s | %s |\n", mark, cell(f.Severity), id, cell(f.Package), cell(f.Installed), cell(cmp.Or(f.Fixed, "—")))
		more := fmt.Sprintf("\n…and %d more findings, not shown.\n", len(fs)-i)
		if b.Len()+len(row)+len(more) > maxBytes {
			b.WriteString(more)
			break
		}
		b.WriteString(row)
	}
	return b.String()
}

// cell makes s safe inside a markdown table cell: no pipes, newlines,
// backticks or markup that could close the table or open a link.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
	s = strings.NewReplacer("|", "\\|", "`", "'", "<", "&lt;", ">", "&gt;", "[", "\\[", "]", "\\]", "*", "\\*", "_", "\\_").Replace(s)
	return ghtext.Head(s, 200)
}

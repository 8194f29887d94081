package cli

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/netfx/netfx/analyze"
	"github.com/netfx/netfx/ingest"
	"github.com/netfx/netfx/render"
)

func newReportCommand(s *streams) *cobra.Command {
	var (
		ff        flowFlags
		asJSON    bool
		hash      bool
		top       int
		findings  int
		internal  []string
		since     string
		allowlist string
		scan      analyze.DetectOptions
		details   bool
		colour    string
		htmlPath  string
		inventory []string
	)
	cmd := &cobra.Command{
		Use:   "report INPUT...",
		Short: "Report findings, a timeline, top talkers and the flow logs' view of the evidence",
		Long: `report reads captures, flow logs and conversation logs (files, folders walked
recursively, or - for standard input), with the Azure inventory found among them
or given with --inventory (VMs, NICs, NSGs, VNets, public IPs, service tags), and
prints, for a person at a terminal:
the evidence as a whole (its time span, and how much of it the captures covered),
the findings, most severe first (--details adds why and the evidence under each),
a timeline of the findings, the inputs and the gaps between captures, top hosts,
host pairs and ports, the names of addresses, and what the flow logs saw that
the captures did not. Tables fit the terminal (or COLUMNS). --json prints the
same as one JSON document (docs/report-json.md). The same inputs give the same
bytes every run.

Examples:
  netfx report evidence/
  netfx report --details --findings 10 evidence/
  netfx report --since 2026-03-14T10:00:00Z --internal 172.20.0.0/16 evidence/
  netfx report --inventory az-nic-list.json --inventory ServiceTags_Public_20261130.json evidence/
  netfx report --json evidence/ | jq '.timeline[] | [.time, .title] | @tsv'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt, err := ff.options()
			if err != nil {
				return err
			}
			opt.Hash = hash
			opt.Inventory = inventory
			if opt.Scope != nil {
				scan.Hosts = opt.Scope.Hosts
			}
			if scan.ScanHosts < 1 || scan.ScanPorts < 1 || scan.ScanWindow <= 0 {
				return usageError{fmt.Errorf("--scan-hosts, --scan-ports and --scan-window must be positive")}
			}
			if colour != "auto" && colour != "always" && colour != "never" {
				return usageError{fmt.Errorf("--color %q: want auto, always or never", colour)}
			}
			if top < 1 || findings < 0 {
				return usageError{fmt.Errorf("--top must be positive and --findings not negative, got %d and %d", top, findings)}
			}
			aopt := analyze.Options{Top: top, Detect: scan}
			for _, c := range internal {
				p, err := netip.ParsePrefix(c)
				if err != nil {
					return usageError{fmt.Errorf("--internal %q: %w", c, err)}
				}
				aopt.Internal = append(aopt.Internal, p)
			}
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return usageError{fmt.Errorf("--since %q: want an RFC 3339 time such as 2026-03-14T10:30:00Z", since)}
				}
				aopt.Detect.Since = t
			}
			if allowlist != "" {
				f, err := os.Open(allowlist)
				if err != nil {
					return usageError{err}
				}
				aopt.Detect.Allowlist, err = analyze.ParseAllowlist(f, allowlist)
				f.Close()
				if err != nil {
					return usageError{err}
				}
			}
			if htmlPath != "" {
				if err := outsideEvidence(htmlPath, args); err != nil {
					return usageError{err}
				}
			}
			sum := analyze.NewSummary(aopt)
			read, err := readEvidence(cmd.Context(), s, args, opt, &ff, ingest.Sink{
				Conn: sum.AddConn, Capture: sum.AddCapture, Tuple: sum.AddTuple,
				FlowLog: sum.AddFlowLog, ConnLog: sum.AddConnLog, Inventory: sum.AddInventory, Analytics: sum.AddAnalytics,
			})
			if err != nil {
				return err
			}
			writeHeapProfile(s.err)
			rep := sum.Report()
			if htmlPath != "" {
				if err := writeHTML(htmlPath, rep); err != nil {
					return err
				}
			}
			switch {
			case htmlPath != "" && ff.quiet:
				// the page alone
			case asJSON:
				err = render.ReportJSON(s.out, rep)
			default:
				width, isTerminal := terminalWidth(s.out)
				err = render.ReportTable(s.out, rep, render.TableOptions{Width: width, MaxFindings: findings, Details: details, Top: top,
					Colour: colour == "always" || colour == "auto" && isTerminal && os.Getenv("NO_COLOR") == ""})
			}
			if err != nil {
				return err
			}
			if err := sum.Err(); err != nil {
				return err // the report is printed, but some evidence is missing from it
			}
			if read.damaged {
				return errDamaged
			}
			return nil
		},
	}
	ff.register(cmd)
	fs := cmd.Flags()
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&hash, "hash", false, "compute the SHA-256 of each input file")
	fs.IntVar(&top, "top", 10, "rows in each top list")
	fs.IntVar(&findings, "findings", 50, "findings shown in the table, most severe first (0: all; --json lists all)")
	fs.StringArrayVar(&internal, "internal", nil, "treat this CIDR as internal as well (repeatable)")
	fs.StringArrayVar(&inventory, "inventory", nil, "read this file as Azure inventory: az CLI, REST or Resource Graph JSON, or the Service Tags file (repeatable; found in folders by content too)")
	fs.StringVar(&since, "since", "", "the suspected compromise time (RFC 3339): findings after it weigh more")
	fs.IntVar(&scan.ScanHosts, "scan-hosts", analyze.DefaultScanHosts, "a scan: failed attempts on one port of this many hosts...")
	fs.IntVar(&scan.ScanPorts, "scan-ports", analyze.DefaultScanPorts, "...or on this many ports of one host...")
	fs.DurationVar(&scan.ScanWindow, "scan-window", analyze.DefaultScanWindow, "...within this time (Zeek's scan.zeek defaults)")
	fs.StringVar(&htmlPath, "html", "", "also write the report as one self-contained HTML page to this file (with -q, the page alone)")
	fs.BoolVar(&details, "details", false, "show why each finding was made and its evidence under the findings table")
	fs.StringVar(&colour, "color", "auto", "severities in colour: auto (on a terminal, unless NO_COLOR is set), always or never")
	fs.StringVar(&allowlist, "allowlist", "", "file of known-good hosts, pairs and ports not to flag (see docs/findings.md)")
	return cmd
}

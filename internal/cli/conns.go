package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
	"github.com/netfx/netfx/render"
)

func newConnsCommand(s *streams) *cobra.Command {
	var (
		ff     flowFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "conns INPUT...",
		Short: "Write every conversation as a Zeek conn.log-style record",
		Long: `conns reads captures, flow logs and conversation logs (files, folders walked
recursively, or - for standard input) and writes one record per connection,
ordered by ts then uid, with Zeek conn.log's field names plus community_id,
ip_proto, the flow logs' view (flowlog_*) and what the payload showed (ssl.*,
http.*, smb.*, dce_rpc.*, ...). Records go to standard output, diagnostics to
standard error.

Examples:
  netfx conns capture.pcap | jq -c 'select(.conn_state == "REJ")'
  netfx conns --format zeek evidence/ > conn.log      (zeek-cut, RITA)
  netfx conns --format csv evidence/ > conns.csv      (spreadsheets)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt, err := ff.options()
			if err != nil {
				return err
			}
			w, err := render.NewConnWriter(s.out, format)
			if err != nil {
				return usageError{err}
			}
			// As many encoders as flow tables: with cores to spare for
			// the tables, encoding gets them too.
			w.Encoders(ingest.Workers(opt.Workers))
			// Reading stops once the records cannot all be written.
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			add := func(c *flows.Conn) {
				w.Add(c)
				if w.Err() != nil {
					stop()
				}
			}
			read, err := readEvidence(ctx, s, args, opt, &ff, ingest.Sink{Conn: add, AnyOrder: true, Watermark: w.Watermark})
			if werr := w.Err(); werr != nil {
				return werr
			}
			if err != nil {
				return err
			}
			restore := collectLessWhileWriting()
			err = w.Close()
			restore()
			if err != nil {
				return err
			}
			if n := w.OutOfOrder(); n > 0 {
				fmt.Fprintf(s.err, "netfx: %d record(s) written out of time order: as TMPDIR cannot be written and the records filled the memory allowed, each was written once no earlier one could follow, and these came later, with earlier times (the capture's packet times go back); set TMPDIR to a writable folder for records in order\n", n)
			}
			if read.damaged {
				return errDamaged
			}
			return nil
		},
	}
	ff.register(cmd)
	cmd.Flags().StringVar(&format, "format", "ndjson", "output format: ndjson, zeek or csv")
	return cmd
}

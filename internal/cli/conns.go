package cli

import (
	"github.com/spf13/cobra"

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
		Long: `conns reads captures (files, folders walked recursively, or - for standard input)
and writes one record per conversation, ordered by ts then uid, with Zeek
conn.log's field names plus community_id, ip_proto and netfx's provenance fields.
Records go to standard output, diagnostics to standard error.`,
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
			damaged, err := readEvidence(cmd.Context(), s, args, opt, ff.quiet, ingest.Sink{Conn: w.Add, AnyOrder: true})
			if err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			if damaged {
				return errDamaged
			}
			return nil
		},
	}
	ff.register(cmd)
	cmd.Flags().StringVar(&format, "format", "ndjson", "output format: ndjson, zeek or csv")
	return cmd
}

package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newReportCommand(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "report INPUT...",
		Short: "Summarise captures: inputs, gaps, top talkers and ports",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("not yet")
		},
	}
}

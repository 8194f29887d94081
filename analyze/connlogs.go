package analyze

import "github.com/netfx/netfx/ingest"

// ConnLogInput describes one conversation log read: netfx conns output or
// Zeek's conn.log, made elsewhere from captures netfx did not read itself.
type ConnLogInput struct {
	File    string `json:"file"`
	Size    int64  `json:"size"`   // of the file, in bytes; -1 for a stream
	Format  string `json:"format"` // json or zeek-tsv
	Records int64  `json:"records"`
	First   string `json:"first,omitempty"` // RFC 3339, UTC: the earliest and latest ts
	Last    string `json:"last,omitempty"`
	Damage  string `json:"damage,omitempty"` // why reading stopped early

	first, last int64
}

// AddConnLog records one conversation log read; its records come
// through AddConn.
func (s *Summary) AddConnLog(res ingest.ConnLogResult) {
	st, err := res.Stats, res.Err
	in := ConnLogInput{File: res.Path, Size: res.Size, Format: string(st.Format), Records: st.Records, first: st.First, last: st.Last}
	if st.Records > 0 {
		in.First, in.Last = FormatTime(st.First), FormatTime(st.Last)
	}
	if in.Damage = damage(err, skipped(st.Skipped, st.Damage), st.Outliers, st.OutlierAt, "record"); in.Damage != "" {
		s.damage++
	}
	s.connLogs = append(s.connLogs, in)
}

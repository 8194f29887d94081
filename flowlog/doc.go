// Package flowlog reads Azure flow logs, NSG flow logs (versions 1 and 2)
// and virtual network flow logs (flowLogVersion 4), and turns their tuples
// into flow records, the same flows.Conn records that captures give.
//
// Flow logs are detected by content. The reader streams: it never holds a
// whole document, only the record being read, and accepts what downloaded
// evidence really looks like: whole PT1H.json blobs in any JSON layout,
// with or without a UTF-8 byte-order mark; blobs read mid-hour or cut short
// (every complete record is kept and the truncation reported); raw appended
// blocks that start with ",{"; JSON lines; and the trailing commas some
// exports have. Other JSON (an NSG diagnostic log, a VNet document holding
// NSG tuples) is rejected with an error that says what it is.
//
// The formats, and the quirks handled here, are described in docs/flowlogs.md.
package flowlog

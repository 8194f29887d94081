// Package ingest is the stage between the readers and the analyses: it
// turns the command line's inputs into conversation records. Read
// expands paths (folders walked in lexical order, "-" for standard input),
// tells captures, flow logs, conversation logs, Azure inventory and Log
// Analytics exports apart by content (decompressing gzip and zstd), reads
// the inventory (package inventory) and the exports (package
// loganalytics) first, then the captures through one flow
// table (flows) on goroutines of their own, parses the flow logs
// (flowlog) a few batches ahead, and joins the capture and flow-log views
// of each connection (Join), sorting on disk when the evidence is larger
// than memory.
//
// Read reports each input's result and each problem to a Sink as it
// goes, and never prints. It stops promptly when its context is done,
// leaving no temporary file.
//
// What each file owns: ingest.go Read and its options and results;
// paths.go the expansion of paths; sniff.go format detection and the
// sources read once (standard input, pipes); captures.go the capture
// pipeline; flowlogs.go the flow-log parsing goroutine; join.go the join;
// analytics.go the Log Analytics rows and their join.
package ingest

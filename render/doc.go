// Package render writes netfx's results: conversation records as NDJSON,
// Zeek TSV or CSV, and the report as a terminal table or JSON. It is the
// last stage of the pipeline and computes nothing: every value it prints
// was decided by flows or analyze. Strings that come from packets or file
// names are escaped for the format they go into.
package render

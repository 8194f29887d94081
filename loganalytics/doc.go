// Package loganalytics reads what a responder exports from the Log
// Analytics workspace of an Azure tenant: Traffic Analytics' aggregated
// flows (tables NTANetAnalytics, for VNet flow logs, and
// AzureNetworkAnalytics_CL, for NSG flow logs) and VM Insights' per-minute
// connections with the process that made them (VMConnection) and its
// listening ports (VMBoundPort).
//
// Exports come as the portal's "Export to CSV" or as JSON: `az monitor
// log-analytics query -o json` (an array of objects) or the query API's
// {"tables": [{"columns", "rows"}]}. Columns are found by name without
// regard to case, with or without the custom-log type suffixes (_s, _d,
// _t, ...) and the portal's " [UTC]" suffix; both value vocabularies are
// read (T/U and TCP/UDP, I/O and Inbound/Outbound, A/D and
// Allowed/Denied); times as ISO 8601 or the portal's US-locale
// "8/25/2025 8:11:21.937 PM", in UTC.
//
// Read streams: one row at a time becomes a Flow (a conversation without
// its source port, over a time window) or a BoundPort. A row that cannot
// be read is counted and described with its file and line (CSV) or byte
// offset (JSON), and the rest is read. docs/loganalytics.md describes the
// tables and what netfx takes from them.
package loganalytics

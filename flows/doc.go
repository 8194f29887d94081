// Package flows turns decoded packets into conversations, one record per
// connection in the style of Zeek's conn.log: the second stage of the netfx
// pipeline.
//
// A [Table] keys conversations by their canonical 5-tuple (VLAN IDs are
// recorded but not part of the key), decides the originator as Zeek does
// (the SYN sender, else the side that does not use a likely server port),
// follows each TCP endpoint's state and sequence space to derive conn_state,
// the history letters and payload byte counts, and expires conversations
// after Zeek's inactivity timeouts. Expired conversations are handed to a
// callback at once, so memory grows with live conversations only.
//
// Every record carries its Community ID (v1), computed here from the
// specification, and a uid derived from the conversation itself, so the same
// input always gives the same uid.
package flows

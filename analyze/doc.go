// Package analyze turns conversations and per-file read results into a
// plain report value: the inputs and the gaps between them, top talkers by
// bytes and by conversations (hosts and host pairs, internal or external)
// and top ports. It is the third stage of the netfx pipeline; it never
// prints. Memory grows with distinct hosts, pairs and ports, never with
// packets.
package analyze

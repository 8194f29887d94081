// Package analyze turns conversations and per-file read results into a
// plain report value: the third stage of the netfx pipeline, after ingest.
// It never prints. Memory grows with distinct hosts, pairs and ports,
// never with packets.
//
// What each file owns:
//
//   - summary.go: the Summary that takes every conversation and input, and
//     the Report it makes (inputs, gaps, totals, top talkers and ports);
//     flowlogs.go and connlogs.go the flow-log and conversation-log
//     sections; names.go the names of addresses; network.go the class of
//     each address (internal and why, external, azure, ...); azure.go the
//     Azure inventory's part (its inputs, the hosts it names, the NSG
//     rules the flow logs name and what they mean).
//   - detection.go: the detector interface, the list of detectors
//     (newDetectors: a new detector is one file, one test file and one
//     line there), and what they share; findings.go the Finding, its
//     evidence and ranking; episodes.go the findings of several detectors
//     that are one episode, merged; allowlist.go the --allowlist file;
//     windows.go time-windowed state that is swept as the evidence goes on.
//   - one file per detector, with its thresholds, and a test file beside
//     it: lateral.go (lateral movement, fan-out, pivot chains),
//     unusualport.go, recon.go (RPC discovery), scan.go, bruteforce.go,
//     inboundaccess.go, beacon.go, longconnection.go, exfiltration.go,
//     dnstunnel.go, flood.go, exposure.go (NSG rules that open a VM to
//     the internet, from the inventory).
//   - evidence.go and pairmap.go: the kept evidence and per-pair state,
//     spilled to nameless temporary files so memory stays bounded.
//
// docs/findings.md explains every finding kind, when it fires and its
// known false positives.
package analyze

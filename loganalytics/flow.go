package loganalytics

import (
	"net/netip"
)

// Tables netfx reads, by the name of their kind (Flow.Table, Stats.Table).
const (
	TableTrafficAnalytics = "traffic_analytics" // NTANetAnalytics or AzureNetworkAnalytics_CL
	TableVMConnection     = "vmconnection"
	TableVMBoundPort      = "vmboundport"
)

// Flow is one row of Traffic Analytics or VMConnection: the connections
// from Src to Dst's port in a time window, without their source ports.
type Flow struct {
	Table      string
	Src, Dst   netip.Addr
	DstPort    uint16
	Proto      uint8
	Start, End int64 // Unix ns: the flows' first and last time, or the row's interval
	Denied     bool
	Inbound    bool   // the row's direction, relative to the NIC (Traffic Analytics) or the machine (VMConnection)
	Rule       string // Traffic Analytics: the NSG rule, as the flow logs name it
	// Traffic Analytics: the flow type (IntraVNet, ExternalPublic, ...),
	// the public side's country (ISO 3166 alpha-2, lower case), and the VMs
	// at either end.
	FlowType, Country string
	SrcVM, DstVM      string
	// VMConnection: the process that made or took the connections, and the
	// machine it runs on.
	Process, Computer string
	// Connections counts the flows the row aggregates: Traffic Analytics'
	// started flows, VMConnection's LinksEstablished (at least 1).
	Connections int
	// Counters over the window, source to destination and back; Counted is
	// false when the row has none (denied flows, NSG flow logs version 1).
	Counted              bool
	PktsSent, PktsRecv   uint64
	BytesSent, BytesRecv uint64
	File                 string
	Line                 int // the row: its CSV line (1-based), or its JSON byte offset
}

// BoundPort is a row of VMBoundPort: a port a process listened on.
type BoundPort struct {
	Computer, Process string
	IP                netip.Addr // may be the unspecified address: a wildcard bind
	Port              uint16
	Proto             uint8
	Time              int64 // Unix ns
}

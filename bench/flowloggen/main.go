// Command flowloggen writes a deterministic VNet flow-log evidence folder
// for benchmarks: hours of PT1H.json blobs for a few NICs, in the storage
// account's layout, each minute's record holding a fixed number of
// connections (a B and an E tuple each, some long-lived with C tuples,
// some denied) between a bounded set of hosts, so that a longer span
// brings more connections but no new hosts.
//
//	go run ./bench/flowloggen -o DIR -hours 24 -nics 2 -per-minute 1000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("o", "", "output folder (created)")
	hours := flag.Int("hours", 24, "hours of logs")
	nics := flag.Int("nics", 2, "NICs, each with its own blobs")
	perMinute := flag.Int("per-minute", 1000, "connections per NIC and minute")
	start := flag.String("start", "2026-03-14T00:00:00Z", "first hour, RFC 3339")
	flag.Parse()
	t0, err := time.Parse(time.RFC3339, *start)
	if *out == "" || err != nil {
		fmt.Fprintln(os.Stderr, "usage: flowloggen -o DIR [-hours N] [-nics N] [-per-minute N] [-start RFC3339]")
		os.Exit(2)
	}
	for nic := range *nics {
		for h := range *hours {
			if err := writeBlob(*out, nic, t0.Add(time.Duration(h)*time.Hour), h, *perMinute); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
}

const flowLogID = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/BENCH-FLOWLOG"

// writeBlob writes one NIC's blob for one hour.
func writeBlob(root string, nic int, hour time.Time, h, perMinute int) error {
	mac := fmt.Sprintf("000D3A1000%02X", nic)
	dir := filepath.Join(root, "insights-logs-flowlogflowevent", "flowLogResourceID="+flowLogID,
		fmt.Sprintf("y=%04d", hour.Year()), fmt.Sprintf("m=%02d", hour.Month()), fmt.Sprintf("d=%02d", hour.Day()),
		fmt.Sprintf("h=%02d", hour.Hour()), "m=00", "macAddress="+mac)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "PT1H.json"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	nicAddr := fmt.Sprintf("10.1.%d.%d", nic/250, 4+nic%250)
	w.WriteString(`{"records":[`)
	for m := range 60 {
		at := hour.Add(time.Duration(m) * time.Minute)
		if m > 0 {
			w.WriteByte(',')
		}
		fmt.Fprintf(w, `{"time":"%s","flowLogVersion":4,"flowLogGUID":"bench","macAddress":"%s","category":"FlowLogFlowEvent",`+
			`"flowLogResourceID":"%s","targetResourceID":"/bench/vnet","operationName":"FlowLogFlowEvent",`+
			`"flowRecords":{"flows":[{"aclID":"bench-acl","flowGroups":[{"rule":"DefaultRule_AllowInternetOutBound","flowTuples":[`,
			at.Add(59*time.Second).Format("2006-01-02T15:04:05.0000000Z"), mac, flowLogID)
		ms := at.UnixMilli()
		for i := range perMinute {
			// Each connection has its own source port within the hour and
			// minute; peers come from a fixed pool.
			c := (h*60+m)*perMinute + i
			port := 1024 + (m*perMinute+i)%64000
			peer := fmt.Sprintf("203.0.%d.%d", 113+c%4, 1+c%250)
			if i > 0 {
				w.WriteByte(',')
			}
			switch {
			case i == 0: // a long connection: a C tuple each minute of its life
				fmt.Fprintf(w, `"%d,%s,%s,%d,443,6,O,C,NX,%d,%d,%d,%d"`, ms+int64(i), nicAddr, peer, 40000, 10, 1500, 12, 9000)
			default:
				fmt.Fprintf(w, `"%d,%s,%s,%d,443,6,O,B,NX,0,0,0,0",`, ms+int64(i), nicAddr, peer, port)
				fmt.Fprintf(w, `"%d,%s,%s,%d,443,6,O,E,NX,%d,%d,%d,%d"`, ms+int64(i)+500, nicAddr, peer, port, 5+i%20, 400+i, 4+i%30, 3000+i*7)
			}
		}
		w.WriteString(`]}]}]}}`)
	}
	w.WriteString(`]}`)
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// Package inventory reads what a responder can export from an Azure
// tenant beside the captures and flow logs, without touching a VM: the
// ARM resources that describe the network (virtual machines, network
// interfaces, network security groups, virtual networks and public IP
// addresses), as the az CLI, the REST API and Azure Resource Graph print
// them, and the Azure IP Ranges and Service Tags file. It is context, not
// traffic: nothing here makes a conversation record.
//
// Read takes one document into an Inventory; NewIndex resolves the
// resources' references and answers what the report asks: the name of an
// address or a MAC (Index.Host, Index.NIC), the VNets' address spaces
// (Index.Range), the service tag of a public address (Index.ServiceTag),
// what an NSG rule named in a flow log means (Index.Rule, Explain), and
// which rules open a VM's remote-administration or database ports to the
// internet (Index.Exposures).
//
// What each file owns: read.go the document walk (lists, Resource Graph
// results, REST examples) and its errors; resources.go the ARM resource
// shapes, flattened or nested under "properties"; index.go the lookups;
// rules.go NSG rules: names, meanings and evaluation; exposure.go the
// rules that expose a VM; servicetags.go the Service Tags table.
//
// docs/inventory.md describes the inputs and their quirks.
package inventory

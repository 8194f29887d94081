package appid

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// DCERPCFacts is what DCE-RPC binds and requests showed.
type DCERPCFacts struct {
	Interfaces []string `json:"endpoints,omitempty"`  // bound interfaces, by name (svcctl, drsuapi, ...) or UUID
	Operations []string `json:"operations,omitempty"` // interface:operation, e.g. svcctl:CreateServiceW
	Requests   int      `json:"requests,omitempty"`   // request PDUs seen
	// EndpointEntries sums the entries the endpoint mapper's ept_lookup
	// responses listed: one lookup can enumerate every interface.
	EndpointEntries int `json:"endpoint_entries,omitempty"`
}

// rpcInterfaces names the interfaces that matter for lateral movement and
// credential theft (MS-SCMR, MS-TSCH, MS-WMI, MS-DRSR, MS-NRPC and others),
// by their UUIDs in the usual text form.
var rpcInterfaces = map[string]string{
	"367abb81-9844-35f1-ad32-98f038001003": "svcctl",
	"1ff70682-0a51-30e8-076d-740be8cee98b": "atsvc",
	"86d35949-83c9-4044-b424-db363231fd0c": "ITaskSchedulerService",
	"378e52b0-c0a9-11cf-822d-00aa0051e40f": "sasec",
	"9556dc99-828c-11cf-a37e-00aa003240c7": "IWbemServices",
	"f309ad18-d86a-11d0-a075-00c04fb68820": "IWbemLevel1Login",
	"d4781cd6-e5d3-44df-ad94-930efe48a887": "IWbemLoginClientID",
	"44aca674-e8fc-11d0-a07c-00c04fb68820": "IWbemContext",
	"027947e1-d731-11ce-a357-000000000001": "IEnumWbemClassObject",
	"4d9f4ab8-7d1c-11cf-861e-0020af6e7c57": "IActivation",
	"000001a0-0000-0000-c000-000000000046": "IRemoteSCMActivator",
	"99fcfec4-5260-101b-bbcb-00aa0021347a": "IObjectExporter",
	"00000143-0000-0000-c000-000000000046": "IRemUnknown2",
	"00020400-0000-0000-c000-000000000046": "IDispatch",
	"e1af8308-5d1f-11c9-91a4-08002b14a0fa": "epmapper",
	"12345778-1234-abcd-ef00-0123456789ac": "samr",
	"12345778-1234-abcd-ef00-0123456789ab": "lsarpc",
	"e3514235-4b06-11d1-ab04-00c04fc2dcd2": "drsuapi",
	"12345678-1234-abcd-ef00-01234567cffb": "netlogon",
	"4b324fc8-1670-01d3-1278-5a47bf6ee188": "srvsvc",
	"6bffd098-a112-3610-9833-46c3f87e345a": "wkssvc",
	"338cd001-2244-31f1-aaaa-900038001003": "winreg",
	"12345678-1234-abcd-ef00-0123456789ab": "spoolss",
	"c681d488-d850-11d0-8c52-00c04fd90f7e": "efsrpc",
	"df1941c5-fe89-4e79-bf10-463657acf44d": "efsrpc",
	"3919286a-b10c-11d0-9ba8-00c04fd92ef5": "dssetup",
	"a4f1db00-ca47-1067-b31f-00dd010662da": "exchange_mapi",
	"f5cc5a18-4264-101a-8c59-08002b2f8426": "nspi",
	"e60c73e6-88f9-11cf-9af1-0020af6e72f4": "ILocalObjectExporter",
	"76f03f96-cdfd-44fc-a22c-64950a001209": "IRemoteWinspool",
	"894de0c0-0d55-11d3-a322-00c04fa321a1": "InitShutdown",
	"d95afe70-a6d5-4259-822e-2c84da1ddb0d": "WindowsShutdown",
	"50abc2a4-574d-40b3-9d66-ee4fd5fba076": "dnsserver",
	"82273fdc-e32a-18c3-3f78-827929dc23ea": "eventlog",
}

// rpcOperations names the operations worth reporting, by interface and
// operation number.
var rpcOperations = map[string]map[uint16]string{
	"wkssvc":                {2: "NetrWkstaUserEnum"},
	"svcctl":                {0: "CloseServiceHandle", 2: "DeleteService", 6: "QueryServiceStatus", 11: "ChangeServiceConfigW", 12: "CreateServiceW", 15: "OpenSCManagerW", 16: "OpenServiceW", 19: "StartServiceW", 24: "CreateServiceA", 44: "CreateServiceWOW64A", 45: "CreateServiceWOW64W"},
	"atsvc":                 {0: "NetrJobAdd", 1: "NetrJobDel", 2: "NetrJobEnum"},
	"ITaskSchedulerService": {1: "SchRpcRegisterTask", 12: "SchRpcRun", 7: "SchRpcDelete"},
	"drsuapi":               {0: "DRSBind", 3: "DRSGetNCChanges", 5: "DRSReplicaAdd", 6: "DRSReplicaDel", 12: "DRSCrackNames", 16: "DRSDomainControllerInfo", 17: "DRSAddEntry"},
	"netlogon":              {4: "NetrServerReqChallenge", 26: "NetrServerAuthenticate3", 30: "NetrServerPasswordSet2", 2: "NetrServerAuthenticate"},
	"samr": {1: "SamrCloseHandle", 5: "SamrLookupDomainInSamServer", 6: "SamrEnumerateDomainsInSamServer", 7: "SamrOpenDomain",
		11: "SamrEnumerateGroupsInDomain", 13: "SamrEnumerateUsersInDomain", 15: "SamrEnumerateAliasesInDomain",
		17: "SamrLookupNamesInDomain", 25: "SamrGetMembersInGroup", 27: "SamrOpenAlias", 33: "SamrGetMembersInAlias",
		34: "SamrOpenUser", 36: "SamrQueryInformationUser", 37: "SamrSetInformationUser", 39: "SamrGetGroupsForUser",
		58: "SamrSetInformationUser2", 64: "SamrConnect5"},
	"lsarpc": {0: "LsarClose", 2: "LsarEnumeratePrivileges", 6: "LsarOpenPolicy", 7: "LsarQueryInformationPolicy",
		14: "LsarLookupNames", 15: "LsarLookupSids", 16: "LsarCreateSecret", 29: "LsarSetSecret", 44: "LsarOpenPolicy2",
		45: "LsarGetUserName", 46: "LsarQueryInformationPolicy2", 57: "LsarLookupSids2", 58: "LsarLookupNames2",
		35: "LsarEnumerateAccountsWithUserRight", 68: "LsarLookupNames3", 76: "LsarLookupSids3", 77: "LsarLookupNames4"},
	"IWbemServices":       {20: "ExecQuery", 24: "ExecMethod", 6: "GetObject"},
	"IWbemLevel1Login":    {6: "NTLMLogin"},
	"IRemoteSCMActivator": {4: "RemoteCreateInstance", 3: "RemoteGetClassObject"},
	"epmapper":            {2: "ept_lookup", 3: "ept_map"},
	"winreg": {0: "OpenClassesRoot", 1: "OpenCurrentUser", 2: "OpenLocalMachine", 4: "OpenUsers", 5: "BaseRegCloseKey",
		6: "BaseRegCreateKey", 7: "BaseRegDeleteKey", 8: "BaseRegDeleteValue", 9: "BaseRegEnumKey", 10: "BaseRegEnumValue",
		15: "BaseRegOpenKey", 16: "BaseRegQueryInfoKey", 17: "BaseRegQueryValue", 20: "BaseRegSaveKey", 22: "BaseRegSetValue",
		26: "BaseRegGetVersion"},
	"srvsvc":   {15: "NetrShareEnum", 16: "NetrShareGetInfo", 12: "NetrSessionEnum"},
	"efsrpc":   {0: "EfsRpcOpenFileRaw", 4: "EfsRpcEncryptFileSrv"},
	"spoolss":  {62: "RpcRemoteFindFirstPrinterChangeNotification", 65: "RpcRemoteFindFirstPrinterChangeNotificationEx", 1: "RpcOpenPrinter"},
	"eventlog": {0: "ElfrClearELFW", 12: "ElfrClearELFA"},
}

func looksDCERPC(p []byte) bool {
	return len(p) >= 16 && p[0] == 5 && p[1] <= 1 && (p[2] == 11 || p[2] == 14 || p[2] == 0) &&
		int(binary.LittleEndian.Uint16(p[8:])) >= 16
}

// rpcHandler follows DCE-RPC over TCP (port 135 and dynamic ports).
type rpcHandler struct {
	buf [2][]byte
	rpc rpcState
}

func (h *rpcHandler) held() int { return heldBytes(h.buf[0], h.buf[1]) }

func (h *rpcHandler) feed(in *Inspector, dir int, data []byte) bool {
	h.buf[dir] = append(h.buf[dir], data...)
	b := h.buf[dir]
	for len(b) >= 16 {
		if b[0] != 5 {
			return false // lost the framing
		}
		n := int(binary.LittleEndian.Uint16(b[8:]))
		if n < 16 {
			return false
		}
		if len(b) < n {
			break
		}
		h.rpc.pdus(in, b[:n])
		b = b[n:]
	}
	h.buf[dir] = append(h.buf[dir][:0], b...)
	return len(h.buf[dir]) < 1<<20
}

// rpcState maps presentation contexts to interfaces for one conversation.
type rpcState struct {
	contexts map[uint16]string
	lookups  []uint32 // call ids of ept_lookup requests awaiting their response
}

// maxEndpointEntries bounds the entries counted: a response claims its own
// count.
const maxEndpointEntries = 1 << 20

// pdus reads the DCE-RPC PDUs in b.
func (s *rpcState) pdus(in *Inspector, b []byte) {
	for len(b) >= 16 && b[0] == 5 {
		n := int(binary.LittleEndian.Uint16(b[8:]))
		if n < 16 {
			return
		}
		pdu := b[:min(n, len(b))]
		s.pdu(in, pdu)
		if n >= len(b) {
			return
		}
		b = b[n:]
	}
}

func (s *rpcState) pdu(in *Inspector, p []byte) {
	in.addService("dce_rpc")
	if in.facts.DCERPC == nil {
		in.facts.DCERPC = &DCERPCFacts{}
	}
	f := in.facts.DCERPC
	if s.contexts == nil {
		s.contexts = map[uint16]string{}
	}
	if binary.LittleEndian.Uint16(p[10:]) > 0 { // auth_length: NTLM may be inside
		in.ntlm(p)
	}
	switch p[2] {
	case 11, 14: // bind, alter_context
		if len(p) < 28 {
			return
		}
		count := int(p[24])
		off := 28
		for i := 0; i < count && off+24 <= len(p); i++ {
			ctxID := binary.LittleEndian.Uint16(p[off:])
			nTransfer := int(p[off+2])
			name := interfaceName(p[off+4 : off+20])
			f.Interfaces = in.keep(f.Interfaces, name)
			if len(s.contexts) < 64 {
				s.contexts[ctxID] = name
			}
			off += 24 + 20*nTransfer
		}
	case 0: // request
		if len(p) < 24 {
			return
		}
		f.Requests++
		iface := s.contexts[binary.LittleEndian.Uint16(p[20:])]
		opnum := binary.LittleEndian.Uint16(p[22:])
		if iface == "" {
			return
		}
		f.Interfaces = in.keep(f.Interfaces, iface) // bound in an earlier conversation: see Session
		op := rpcOperations[iface][opnum]
		if op == "" {
			op = fmt.Sprintf("opnum%d", opnum)
		}
		f.Operations = in.keep(f.Operations, iface+":"+op)
		if iface == "epmapper" && opnum == 2 && len(s.lookups) < 64 {
			s.lookups = append(s.lookups, binary.LittleEndian.Uint32(p[12:]))
		}
	case 2: // response: an ept_lookup's lists entries after its 20-byte handle
		callID := binary.LittleEndian.Uint32(p[12:])
		if i := slices.Index(s.lookups, callID); i >= 0 && len(p) >= 24+24 {
			s.lookups = slices.Delete(s.lookups, i, i+1)
			f.EndpointEntries = min(maxEndpointEntries, f.EndpointEntries+int(binary.LittleEndian.Uint32(p[24+20:])))
		}
	}
}

// interfaceName names a 16-byte little-endian UUID, or formats it.
func interfaceName(u []byte) string {
	s := fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(u), binary.LittleEndian.Uint16(u[4:]),
		binary.LittleEndian.Uint16(u[6:]), u[8:10], u[10:16])
	if name, ok := rpcInterfaces[s]; ok {
		return name
	}
	return strings.ToLower(s)
}

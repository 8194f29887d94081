// Package appid identifies what a conversation carries from its payload,
// independent of ports, and reads the names and handshake facts an analyst
// needs: TLS server names, versions and JA4 fingerprints, HTTP requests
// (WinRM among them), SSH banners, RDP cookies and security protocols, SMB
// dialects, tree paths and named pipes, DCE-RPC interfaces and operations
// (over TCP and over SMB pipes), Kerberos and LDAP principals, NTLM
// identities, DNS queries and answers, SMTP and FTP banners, QUIC and NTP.
//
// An Inspector takes a conversation's payload in order, per direction, and
// keeps only what it needs: a few KiB of each direction until the protocol
// is known, then message headers as the protocol's framing allows. It
// never reads past the bytes it is given and never panics on hostile
// input; parsers fail closed, leaving a fact unset.
package appid

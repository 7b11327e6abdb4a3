// Package interop runs real IKEv2 implementations as peers in the
// network-namespace lab (test/lab), so that end-to-end tests can check the
// project's home agent and mobile node against them.
//
// # strongSwan
//
// StartCharon starts strongSwan's charon (5.9.8 on Debian 12) in a lab
// host with its own strongswan.conf (an explicit plugin list with
// kernel-libipsec, so ESP runs in user space over a TUN device because the
// lab kernel has no ESP), its own vici socket, a private /run, and a file
// log whose levels the test chooses. Connections are described in Go
// (Config, Connection, Auth, Child, Pool, Secret), rendered to
// swanctl.conf and loaded with `swanctl --load-all`. Certificates come
// from the test's own CA (NewCA, CA.Issue) and are written in the layout
// swanctl reads; the same Go values serve the project's own IKE code.
//
// Operations: Initiate, Terminate, Rekey, Redirect (RFC 5685, swanctl
// --redirect), ListSAs (vici list-sas parsed into IKESA and ChildSA),
// WaitSA and WaitEstablished, Counters (message and rekey counts), Log, and
// IKEKeys, which reads the IKE SA keys from charon's log so that tshark
// can decrypt a capture (TsharkDecryptArgs) when strongSwan is the peer.
//
//	tp := lab.NewTopology(t, lab.TopologyConfig{})
//	ha := interop.StartCharon(t, tp.HA1, interop.CharonOptions{})
//	mn := interop.StartCharon(t, tp.MN, interop.CharonOptions{LogKeys: true})
//	psk := interop.Secret{Name: "mn", Secret: "lab-psk"}
//	err := ha.Load(ctx, interop.Config{
//		Connections: []interop.Connection{{
//			Name:       "mn",
//			LocalAddrs: []string{tp.HAAddrs[0].V6.String()},
//			Encap:      true,
//			Pools:      []string{"hoa"},
//			Local:      interop.Auth{Method: "psk", ID: "ha.example"},
//			Remote:     interop.Auth{Method: "psk", ID: "mn.example"},
//			Children:   []interop.Child{{Name: "home", LocalTS: []string{"2001:db8:f::1/128"}}},
//		}},
//		Pools:   []interop.Pool{{Name: "hoa", Addrs: "2001:db8:1::1000/124"}},
//		Secrets: []interop.Secret{psk},
//	})
//	... mn.Load(ctx, ...) with VIPs: []string{"::"} ...
//	err = mn.Initiate(ctx, "home", "home")
//	sa, err := mn.WaitEstablished(ctx, "home", "home")
//	hoa := sa.LocalVIPs[0]
//
// Traffic selectors must not cover the peer's own outer address: charon
// keeps IKE out of the tunnel with a "throw" route for that address, so
// traffic to it bypasses the CHILD_SA. Give the responder an address of
// its own that only the tunnel reaches (see test/labcheck).
//
// The vici subpackage is the small client of charon's control protocol
// that ListSAs, Counters and WaitSA use.
//
// # libreswan
//
// StartPluto starts libreswan 4.10's pluto (unpacked by
// test/deps.d/libreswan.sh, because Debian's package conflicts with
// strongSwan) in a lab host with a private /run and the unpacked
// /usr/libexec bind-mounted in its mount namespace. PlutoOptions and
// PlutoConn render ipsec.conf (global-redirect, send-redirect/redirect-to,
// accept-redirect) and ipsec.secrets; whack helpers cover Status,
// GlobalStatus, States/WaitState, Initiate, Terminate, Delete and Redirect.
// It is an IKE-only peer: its CHILD_SAs fail on the lab kernel, which has no
// kernel ESP.
package interop

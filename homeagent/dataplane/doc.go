// Package dataplane is the user-space packet path shared by the home agent
// and the mobile node client: UDP sockets for IKE (port 500) and NAT-T
// (port 4500) with batched I/O, ESP in tunnel mode with UDP encapsulation
// (RFC 4303, RFC 3948) and anti-replay, a TUN device, and a probe for kernel
// ESP. It follows the shape of wireguard-go's conn/, tun/ and device/.
//
// It knows nothing of IKE: the runtime in package homeagent turns each
// negotiated CHILD_SA into two SAConfig values (inbound and outbound) and
// installs them here. The package is Linux-only apart from the ESP, replay
// and demultiplexing code.
//
// # Packet flow
//
// Outbound, one goroutine:
//
//	TUN read (a batch: every queued packet per wake-up, into buf[HeadRoom:])
//	  -> inner destination -> outbound table (longest prefix) -> SA
//	  -> SA.Seal in place (ESP header, IV, padding, trailer, ICV)
//	  -> sendmmsg of the batch on the SA's NAT-T socket, from the SA's
//	     local address (IPV6_PKTINFO / IP_PKTINFO) to its remote endpoint;
//	     runs of equal-size packets of one SA go as one segmented message
//	     (UDP_SEGMENT), which the kernel carries through its stack once
//
// Inbound, one goroutine per socket:
//
//	recvmmsg of up to BatchSize datagrams (into buf[ESPOffset:]), with the
//	source and, from pktinfo, the local destination of each; a datagram the
//	kernel coalesced from one flow (UDP_GRO) is split in place
//	  port 500:  everything is IKE -> Config.IKE
//	  port 4500: Classify:
//	    non-ESP marker (4 zero octets) -> IKE without the marker -> Config.IKE
//	    0xFF                           -> NAT-keepalive, counted
//	    otherwise ESP                  -> inbound table (SPI) -> SA.Open in
//	                                      place (replay check, ICV, replay
//	                                      update, trailer, selectors)
//	                                   -> TUN write
//
// IKE datagrams are handed over a batch at a time, borrowed for the duration
// of the call. WriteIKE sends a batch, each datagram from its own local
// address and port, adding the non-ESP marker on the NAT-T port;
// SendKeepalive sends a NAT-keepalive (the runtime owns the timer).
//
// The batched socket I/O calls recvmmsg(2) and sendmmsg(2) directly (through
// syscall.RawConn and golang.org/x/sys/unix) rather than through
// golang.org/x/net's ReadBatch and WriteBatch, which allocate a *net.UDPAddr
// for every received datagram (BenchmarkReadBatch compares the two).
//
// Nothing on these paths allocates, returns an error or logs per packet: a
// discarded packet is counted by DropReason, globally (Dataplane.Stats) and
// on its SA (SA.Stats) when it has one.
//
// # Buffers
//
// Every packet buffer has the layout documented beside HeadRoom:
//
//	| nonce scratch 16 | SPI 4 | Seq 4 | IV 8 | inner packet | pad 0-3 | pl | nh | ICV 16 |
//	0                  ESPOffset              HeadRoom
//
// so a TUN read becomes an ESP packet, and an ESP packet an inner packet,
// without copying. Each goroutine owns its batch of buffers (BatchSize
// buffers of BufferSize octets) for its whole life; nothing is pooled on the
// packet path. The nonce scratch exists because cipher.AEAD is an interface:
// a nonce array on the stack would escape to the heap on every call.
//
// # SA tables and concurrency
//
// Inbound SAs are found by SPI, outbound SAs by the inner destination: each
// RemoteTS prefix of an outbound SA is a route (a home agent routes each HoA
// as a /128; a mobile node routes ::/0 and 0.0.0.0/0). Both tables are
// read-copy-update: immutable maps behind atomic pointers, sharded 256 ways
// so that an install copies a few dozen entries even with many thousands of
// SAs. Packet goroutines look up without any lock; installs and removals
// are serialised by a mutex per table and never block readers.
//
// An SA is safe for concurrent use. Outbound sequence numbers come from an
// atomic counter (also the IV: RFC 4106 §3.1 and RFC 7634 §2 only ask for
// uniqueness); the inbound replay window takes a short per-SA mutex before
// decryption (check) and after ICV verification (update), never during the
// AEAD work. Counters are atomics; global counters are added once per batch.
//
// # Installing and rekeying
//
// For a new CHILD_SA the runtime calls InstallInbound before the peer can
// use the SPI (before sending the IKE message that completes the exchange),
// then InstallOutbound. A rekey is make-before-break:
//
//  1. InstallInbound(new inbound): old and new inbound SAs both receive.
//  2. InstallOutbound(new outbound): every route of the old outbound SA
//     switches to the new one with one atomic store per prefix; packets
//     already sealed with the old SA are still valid at the peer.
//  3. RemoveOutbound(old outbound) (a no-op if all its routes moved), and,
//     after the peer deletes its side, RemoveInbound(old inbound).
//
// An outbound SA reports that it needs a rekey once, through
// SAConfig.OnSoftLimit and SA.RekeyNeeded, when its sequence number reaches
// SoftSeqLimit (default 2^32 − 2^16), and drops packets with
// DropSeqExhausted instead of ever cycling the counter (RFC 4303 §3.3.3;
// Extended Sequence Numbers are not supported, so ESN must be negotiated
// off). Lifetimes in bytes or seconds are the runtime's: it reads SA.Stats.
// SetRemote moves an outbound SA to a new peer address and port when the
// peer's NAT mapping changes.
//
// # Key material
//
// NewSA keys the cipher from SAConfig.KeyMaterial and keeps none of that
// buffer, which stays the caller's to wipe; the runtime wipes it at once.
// What an SA holds cannot be wiped when it is removed: the cipher.AEAD
// keeps its own key schedule (crypto/aes, x/crypto/chacha20poly1305) with
// no way to overwrite it, and the 4-octet salt is read without a lock by
// packet goroutines that may still hold a removed SA (the tables are
// read-copy-update without a grace period; during a rekey a packet looked
// up before the switch is sealed with the old SA), so overwriting it would
// race with them and spoil such a packet. Both go with the SA to the
// garbage collector; the salt without the key is of no use anyway.
//
// # Kernel ESP
//
// ProbeKernelESP adds and deletes a dummy XFRM ESP state and reports whether
// the kernel could hold it, for a start-up log line. Kernels without ESP
// (as on the development machines) answer ENOSYS; the user-space path above
// is then the only one, which is also the default.
package dataplane

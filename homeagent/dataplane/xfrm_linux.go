package dataplane

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// KernelESP is the outcome of ProbeKernelESP.
type KernelESP struct {
	// Available is true if the kernel accepted an ESP state.
	Available bool
	// Err says why not.
	Err error
}

// String returns the log line: "kernel ESP available" or "kernel ESP not
// available: <reason>".
func (k KernelESP) String() string {
	if k.Available {
		return "kernel ESP available"
	}
	return fmt.Sprintf("kernel ESP not available: %v", k.Err)
}

// ProbeKernelESP checks whether the kernel of the current network namespace
// can hold an ESP state: it adds a tunnel-mode AES-GCM state between two
// documentation addresses through XFRM netlink and deletes it again. A kernel
// without ESP answers ENOSYS ("Requested type not found" in iproute2 words);
// without CAP_NET_ADMIN the answer is EPERM. Either way the user-space path
// is used; the probe never fails the caller.
func ProbeKernelESP() KernelESP {
	var spi [4]byte
	_, _ = rand.Read(spi[:])
	state := &netlink.XfrmState{
		Src:   net.ParseIP("2001:db8::1"),
		Dst:   net.ParseIP("2001:db8::2"),
		Proto: netlink.XFRM_PROTO_ESP,
		Mode:  netlink.XFRM_MODE_TUNNEL,
		Spi:   int(binary.BigEndian.Uint32(spi[:])&0x7fffffff | 0x100),
		Aead: &netlink.XfrmStateAlgo{
			Name:   "rfc4106(gcm(aes))",
			Key:    make([]byte, 20),
			ICVLen: 128,
		},
	}
	if err := netlink.XfrmStateAdd(state); err != nil {
		return KernelESP{Err: fmt.Errorf("XFRM state add: %w", err)}
	}
	if err := netlink.XfrmStateDel(state); err != nil {
		return KernelESP{Available: true, Err: fmt.Errorf("XFRM state delete: %w", err)}
	}
	return KernelESP{Available: true}
}

package lab

import (
	"context"
	"fmt"
	"strings"
)

// Nft loads an nftables script into the host (`nft -f -`); it fails the
// test on error.
func (h *Host) Nft(script string) {
	h.lab.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := h.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if _, err := run(cmd); err != nil {
		h.lab.t.Fatalf("lab: %s: nft script:\n%s\n%v", h.name, script, err)
	}
}

// NATTable is the nftables table Masquerade adds its rules to, in the ip
// family for NAT44 and in the ip6 family for NAT66.
const NATTable = "lab_nat"

// Masquerade makes the host (a router) a NAT: packets from the prefix src
// that leave through any interface except notOut get the address of their
// output interface as source, and the answers are translated back. An
// IPv4 prefix gives NAT44, an IPv6 prefix NAT66. notOut is usually the
// interface of the private side (src's own link), so traffic staying on it
// is not translated.
func (h *Host) Masquerade(src, notOut string) {
	h.lab.t.Helper()
	p := mustPrefix(h.lab, src)
	if p != p.Masked() {
		h.lab.t.Fatalf("lab: Masquerade: %s has host bits set (want %s)", p, p.Masked())
	}
	h.lab.checkIfName(notOut)
	fam, match := "ip", "ip saddr"
	if p.Addr().Is6() {
		fam, match = "ip6", "ip6 saddr"
	}
	h.Nft(fmt.Sprintf(`add table %[1]s %[2]s
add chain %[1]s %[2]s postrouting { type nat hook postrouting priority srcnat; policy accept; }
add rule %[1]s %[2]s postrouting %[3]s %[4]s oifname != %[5]q counter masquerade
`, fam, NATTable, match, p, notOut))
}

package homelink

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SysctlChange is a kernel setting New changed: its sysctl name, the value
// it had and the value it was given. Close writes Old back unless
// Options.KeepSysctls is set.
type SysctlChange struct {
	Name     string // e.g. "net.ipv6.conf.all.proxy_ndp"
	Old, New string
}

// String renders the change as "name: old -> new".
func (c SysctlChange) String() string { return c.Name + ": " + c.Old + " -> " + c.New }

// sysctlSetting is one setting the home link needs.
type sysctlSetting struct {
	name, value string
}

// requiredSysctls lists, in the order they are applied, the settings a
// home agent needs on its home link (verified on Linux 6.18, see doc.go):
//
//   - net.ipv6.conf.all.forwarding = 1: the kernel forwards IPv6 only when
//     the global switch is on (ip6_forward), and packets for a home
//     address arrive on the home link and leave into the TUN device.
//     Writing it sets every interface's forwarding too.
//   - net.ipv6.conf.HOME.forwarding = 1: the kernel answers Neighbor
//     Solicitations for proxied addresses only on interfaces that forward
//     (ndisc_recv_ns). Already 1 after the previous line, unless the
//     global switch was on and this interface was turned off.
//   - net.ipv6.conf.all.proxy_ndp = 1: enables proxy NDP on every
//     interface, and is the only switch the forwarding path reads: a
//     unicast Neighbor Solicitation addressed to a proxied address (the
//     Neighbor Unreachability Detection probe every neighbour sends) is
//     answered only when the global switch is on; with just the
//     per-interface one it is routed into the TUN device instead, and the
//     neighbours' entries fail.
//   - net.ipv4.conf.HOME.forwarding = 1 (IPv4 enabled): proxy ARP answers,
//     and IPv4 forwarding from the home link, need forwarding on the
//     receiving interface (arp_process, ip_route_input_slow). A proxy
//     neighbour entry needs no proxy_arp switch.
func requiredSysctls(home string, ipv4 bool) []sysctlSetting {
	s := []sysctlSetting{
		{"net.ipv6.conf.all.forwarding", "1"},
		{"net.ipv6.conf." + home + ".forwarding", "1"},
		{"net.ipv6.conf.all.proxy_ndp", "1"},
	}
	if ipv4 {
		s = append(s, sysctlSetting{"net.ipv4.conf." + home + ".forwarding", "1"})
	}
	return s
}

// sysctlFile is a changed setting with its file, kept open so that the
// value can be restored in the network namespace it was changed in
// (a sysctl file belongs to the namespace of the thread that opened it).
type sysctlFile struct {
	change SysctlChange
	f      *os.File
}

// sysctlPath maps a sysctl name to its /proc/sys file. Interface names may
// hold dots, so the first components are split on dots and the interface
// name is kept whole.
func sysctlPath(name string) string {
	parts := strings.SplitN(name, ".", 4) // net, ipv6, conf, "IFACE.key"
	if len(parts) == 4 && parts[2] == "conf" {
		if i := strings.LastIndexByte(parts[3], '.'); i > 0 {
			return filepath.Join("/proc/sys", parts[0], parts[1], parts[2], parts[3][:i], parts[3][i+1:])
		}
	}
	return filepath.Join(append([]string{"/proc/sys"}, strings.Split(name, ".")...)...)
}

// applySysctls gives each setting its value where it differs, in order,
// and returns what it changed with the files to restore them through.
func applySysctls(settings []sysctlSetting) ([]sysctlFile, error) {
	var changed []sysctlFile
	for _, s := range settings {
		f, err := os.OpenFile(sysctlPath(s.name), os.O_RDWR, 0)
		if err != nil {
			restoreSysctls(changed)
			return nil, fmt.Errorf("homelink: sysctl %s: %w", s.name, err)
		}
		old, err := readSysctl(f)
		if err == nil && old == s.value {
			f.Close()
			continue
		}
		if err == nil {
			err = writeSysctl(f, s.value)
		}
		if err != nil {
			f.Close()
			restoreSysctls(changed)
			return nil, fmt.Errorf("homelink: sysctl %s: %w", s.name, err)
		}
		changed = append(changed, sysctlFile{SysctlChange{s.name, old, s.value}, f})
	}
	return changed, nil
}

// restoreSysctls writes the old values back, last change first, and
// closes the files.
func restoreSysctls(changed []sysctlFile) error {
	var errs []error
	for i := len(changed) - 1; i >= 0; i-- {
		c := changed[i]
		if err := writeSysctl(c.f, c.change.Old); err != nil {
			errs = append(errs, fmt.Errorf("homelink: restore sysctl %s: %w", c.change.Name, err))
		}
		c.f.Close()
	}
	return errors.Join(errs...)
}

func closeSysctls(changed []sysctlFile) {
	for _, c := range changed {
		c.f.Close()
	}
}

func readSysctl(f *os.File) (string, error) {
	var buf [64]byte
	n, err := f.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return "", err
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

func writeSysctl(f *os.File, v string) error {
	_, err := f.WriteAt([]byte(v+"\n"), 0)
	return err
}

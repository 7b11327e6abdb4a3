package homeagent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// apply carries out one CHILD_SA operation on the dataplane (which knows
// nothing of IKE: each half becomes a dataplane.SA) and on the kernel
// routes into the device.
//
// The operation's keys are the runtime's own copy (everything in an
// ike.Ready is), read by nothing else: they are wiped once the operation is
// applied, since a dataplane SA keeps the key in its cipher (NewSA copies
// SAConfig.KeyMaterial).
func (s *shard) apply(e *entry, op ike.ChildOp) {
	c := op.Child
	defer op.Child.ZeroKeys()
	var err error
	switch op.Kind {
	case ike.InstallInbound:
		err = s.installInbound(c)
	case ike.InstallOutbound:
		err = s.installOutbound(e, c, op.Replaces)
	case ike.RemoveInbound:
		if sa := s.inSA[c.InSPI]; sa != nil {
			s.rt.dp.RemoveInbound(sa)
			s.rt.retiredIn.Add(sa.Stats().Bytes)
			delete(s.inSA, c.InSPI)
		}
	case ike.RemoveOutbound:
		s.removeOutbound(c.OutSPI)
	case ike.UpdateEndpoints:
		if sa := s.outSA[c.OutSPI]; sa != nil && sa.Remote() != c.Remote {
			err = s.rt.dp.SetRemote(sa, c.Remote)
		}
	default:
		err = fmt.Errorf("unknown CHILD_SA operation %v", op.Kind)
	}
	if err != nil {
		s.rt.childOpFailures.Add(1)
		s.rt.log.Error("CHILD_SA operation failed", "sa", e.id, "op", op.Kind.String(),
			"in_spi", spiHex(c.InSPI), "out_spi", spiHex(c.OutSPI), "err", err)
	}
}

func (s *shard) installInbound(c ike.ChildSA) error {
	cfg, err := ChildSAConfig(c, dataplane.Inbound)
	if err != nil {
		return err
	}
	sa, err := dataplane.NewSA(cfg)
	if err != nil {
		return err
	}
	if err := s.rt.dp.InstallInbound(sa); err != nil {
		return err
	}
	s.inSA[c.InSPI] = sa
	return nil
}

// installOutbound installs the outbound half as the route for its remote
// selectors; during a rekey it takes over from the SA replaced, whose
// routes move atomically. Kernel routes are added before the old SA's are
// given back, so the device route never disappears.
func (s *shard) installOutbound(e *entry, c ike.ChildSA, replaces uint32) error {
	cfg, err := ChildSAConfig(c, dataplane.Outbound)
	if err != nil {
		return err
	}
	id, inSPI := e.id, c.InSPI
	cfg.SoftSeqLimit = s.rt.opts.SoftSeqLimit
	cfg.OnSoftLimit = func(*dataplane.SA) {
		// On a packet goroutine: the shard rekeys (RFC 4303 §3.3.3).
		s.post(func(now time.Time) {
			if e := s.byID[id]; e != nil {
				if err := e.sa.RekeyChild(now, inSPI); err != nil {
					s.rt.log.Warn("CHILD_SA rekey at sequence number limit failed", "sa", id, "in_spi", spiHex(inSPI), "err", err)
				}
				s.drive(e, now)
			}
		})
	}
	sa, err := dataplane.NewSA(cfg)
	if err != nil {
		return err
	}
	if err := s.rt.dp.InstallOutbound(sa); err != nil {
		return err
	}
	s.outSA[c.OutSPI] = sa
	s.rt.routes.add(s.rt.router, cfg.RemoteTS, s.routeSource(e), s.rt.log)
	if replaces != 0 && replaces != c.OutSPI {
		s.removeOutbound(replaces)
	}
	return nil
}

func (s *shard) removeOutbound(outSPI uint32) {
	sa := s.outSA[outSPI]
	if sa == nil {
		return
	}
	s.rt.dp.RemoveOutbound(sa)
	s.rt.retiredOut.Add(sa.Stats().Bytes)
	delete(s.outSA, outSPI)
	s.rt.routes.del(s.rt.router, sa.RemoteTS(), s.rt.log)
}

// routeSource is the source address for locally originated packets into
// the tunnel: on an initiator, the inner address the gateway assigned us.
func (s *shard) routeSource(e *entry) func(netip.Prefix) netip.Addr {
	a := e.sa.Assignment()
	return func(dst netip.Prefix) netip.Addr {
		if a == nil || !e.sa.Initiator() {
			return netip.Addr{}
		}
		if dst.Addr().Is6() {
			return a.IPv6.Addr()
		}
		return a.IPv4
	}
}

// espSupported checks that an ESP proposal only offers what the user-space
// dataplane carries: AEAD transforms, no Extended Sequence Numbers.
func espSupported(p ike.Proposal) error {
	for _, c := range p.Encr {
		if c.ID != wire.EncrAESGCM16 && c.ID != wire.EncrChaCha20Poly1305 {
			return fmt.Errorf("%v: the user-space dataplane needs AES-GCM-16 or ChaCha20-Poly1305", c)
		}
	}
	for _, e := range p.ESN {
		if e != wire.ESNNone {
			return errors.New("the user-space dataplane does not do extended sequence numbers")
		}
	}
	return nil
}

func spiHex(spi uint32) string { return fmt.Sprintf("%08x", spi) }

// routeTable counts the CHILD_SAs that need each kernel route, since a
// rekeyed outbound SA and its successor share theirs and several shards add
// and remove routes.
type routeTable struct {
	mu    sync.Mutex
	count map[netip.Prefix]int
}

func (t *routeTable) add(r Router, ps []netip.Prefix, src func(netip.Prefix) netip.Addr, log *slog.Logger) {
	if r == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.count == nil {
		t.count = map[netip.Prefix]int{}
	}
	for _, p := range ps {
		if t.count[p] > 0 {
			t.count[p]++
			continue
		}
		if err := r.AddRoute(p, src(p)); err != nil {
			// Not counted: the next CHILD_SA with the prefix tries again.
			log.Error("route into the device not added", "dst", p.String(), "err", err)
			continue
		}
		t.count[p] = 1
	}
}

func (t *routeTable) del(r Router, ps []netip.Prefix, log *slog.Logger) {
	if r == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range ps {
		if t.count[p] == 0 {
			continue
		}
		t.count[p]--
		if t.count[p] > 0 {
			continue
		}
		delete(t.count, p)
		if err := r.DelRoute(p); err != nil {
			log.Warn("route into the device not removed", "dst", p.String(), "err", err)
		}
	}
}

// clear removes every route left (after the SAs are gone there should be
// none).
func (t *routeTable) clear(r Router, log *slog.Logger) {
	t.mu.Lock()
	left := make([]netip.Prefix, 0, len(t.count))
	for p := range t.count {
		left = append(left, p)
	}
	t.count = nil
	t.mu.Unlock()
	for _, p := range left {
		log.Warn("route left at shutdown", "dst", p.String())
		if r != nil {
			r.DelRoute(p)
		}
	}
}

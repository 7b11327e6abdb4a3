package homeagent

import (
	"context"
	"log/slog"
	"time"

	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// event applies an engine event: routing changes first (new and retired
// local SPIs), addresses given back when an IKE SA ends, other SAs of a
// peer closed on INITIAL_CONTACT; then the log line and the observer.
func (s *shard) event(e *entry, ev ike.Event, now time.Time) {
	log := s.rt.log
	switch x := ev.(type) {
	case ike.IKEUp:
		// The SA stays routed by its InitKey until it is gone: a late copy
		// of its IKE_SA_INIT request must reach it (which drops it), not
		// the Responder (which would make a stray half-open SA).
		e.peer = x.PeerID
		ctx := s.exchangeContext(x.TraceContext)
		if m := s.rt.opts.Metrics; m != nil && !e.up {
			m.AddIKESAs(ctx, 1)
		}
		e.up = true
		log.Info("IKE SA up", "sa", e.id, "spis", x.SPIs.String(), "peer", x.PeerID.String(), "local_id", x.LocalID.String(),
			"local", x.Path.Local.String(), "remote", x.Path.Remote.String(), "natt", x.NATT, "suite", x.Suite,
			"initiator", x.Initiator, "redirect_supported", x.RedirectSupported)
	case ike.IKERekeyed:
		s.route(e, x.LocalSPI)
		log.Info("IKE SA rekeyed", "sa", e.id, "old", x.Old.String(), "new", x.New.String(), "by_us", x.Initiator)
	case ike.IKERetired:
		s.unroute(e, x.LocalSPI)
		log.Debug("IKE SA retired", "sa", e.id, "spis", x.SPIs.String())
	case ike.IKEDown:
		if x.Assignment != nil && s.rt.pool != nil {
			s.rt.pool.Release(s.x.ctx, x.PeerID, *x.Assignment)
		}
		if m := s.rt.opts.Metrics; m != nil && e.up {
			m.AddIKESAs(s.x.ctx, -1)
		}
		e.up = false
		level := slog.LevelInfo
		if x.Reason != ike.DownDeleted && x.Reason != ike.DownDeletedByPeer && x.Reason != ike.DownClosed {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "IKE SA down", "sa", e.id, "spis", x.SPIs.String(), "peer", x.PeerID.String(),
			"reason", x.Reason.String(), "err", x.Err)
	case ike.AddressAssigned:
		log.Info("address assigned", "sa", e.id, "peer", x.Peer.String(), "to_us", x.ToUs,
			"ipv6", prefixString(x.Assignment.IPv6), "ipv4", addrString(x.Assignment.IPv4),
			"home_prefix", prefixString(x.Assignment.HomePrefix), "dns", x.Assignment.DNS)
	case ike.ChildUp:
		if m := s.rt.opts.Metrics; m != nil {
			m.AddChildSAs(s.x.ctx, 1)
		}
		log.Info("CHILD_SA installed", "sa", e.id, "in_spi", spiHex(x.Child.InSPI), "out_spi", spiHex(x.Child.OutSPI),
			"mode", x.Child.Mode.String(), "encap", x.Child.Encap, "transform", x.Child.Transform,
			"local_ts", tsStrings(x.Child.LocalTS), "remote_ts", tsStrings(x.Child.RemoteTS))
	case ike.ChildRekeyed:
		if m := s.rt.opts.Metrics; m != nil {
			m.AddChildSAs(s.x.ctx, 1) // the old one's ChildDown follows
		}
		log.Info("CHILD_SA rekeyed", "sa", e.id, "old_in_spi", spiHex(x.Old.InSPI), "old_out_spi", spiHex(x.Old.OutSPI),
			"in_spi", spiHex(x.New.InSPI), "out_spi", spiHex(x.New.OutSPI))
	case ike.ChildDown:
		if m := s.rt.opts.Metrics; m != nil {
			m.AddChildSAs(s.x.ctx, -1)
		}
		log.Info("CHILD_SA deleted", "sa", e.id, "in_spi", spiHex(x.Child.InSPI), "out_spi", spiHex(x.Child.OutSPI),
			"reason", x.Reason.String())
	case ike.ChildFailed:
		s.failExchange(x.Notify.String())
		log.Warn("CHILD_SA failed", "sa", e.id, "notify", x.Notify.String(), "by_peer", x.ByPeer, "err", x.Err)
	case ike.AuthFailed:
		s.failExchange(wire.NotifyAuthenticationFailed.String())
		log.Warn("authentication failed", "sa", e.id, "spis", x.SPIs.String(), "peer", x.Peer.String(), "by_peer", x.ByPeer, "err", x.Err)
	case ike.NATDetected:
		log.Info("NAT detected", "sa", e.id, "local_behind_nat", x.LocalBehindNAT, "peer_behind_nat", x.PeerBehindNAT,
			"forced", x.Forced, "local", x.Path.Local.String(), "remote", x.Path.Remote.String())
	case ike.PeerMoved:
		log.Info("peer moved", "sa", e.id, "old", x.Old.Remote.String(), "new", x.New.Remote.String())
	case ike.RedirectReceived:
		log.Info("redirect received", "sa", e.id, "exchange", x.Exchange.String(), "target", x.Target.Gateway.String())
	case ike.RedirectSent:
		log.Info("redirect sent", "sa", e.id, "exchange", x.Exchange.String(), "target", x.Target.Gateway.String(), "peer", x.Peer.String())
	case ike.LivenessFailed:
		log.Warn("peer not answering", "sa", e.id, "spis", x.SPIs.String())
	case ike.InitialContact:
		log.Info("INITIAL_CONTACT: closing the peer's other IKE SAs", "sa", e.id, "peer", x.Peer.String())
		s.closeOthers(x.Peer, e.id)
	case ike.ExchangeFailed:
		s.failExchange(x.Notify.String())
		log.Warn("exchange failed", "sa", e.id, "exchange", x.Exchange.String(), "notify", x.Notify.String(), "err", x.Err)
	default:
		log.Debug("IKE event", "sa", e.id, "event", ev)
	}
	if obs := s.rt.opts.Observer; obs != nil {
		obs(Event{SA: e.id, Time: now, IKE: ev})
	}
}

// closeOthers closes, in every shard, the IKE SAs of peer other than keep
// (RFC 7296 §2.4: an authenticated INITIAL_CONTACT makes them obsolete).
func (s *shard) closeOthers(peer ike.ID, keep SAID) {
	for _, t := range s.rt.shards {
		t.post(func(now time.Time) {
			for _, o := range t.sorted() {
				if o.id != keep && o.peer == peer && !o.sa.Done() {
					t.rt.log.Info("IKE SA replaced by the peer's new one", "sa", o.id, "peer", peer.String())
					o.sa.Close(now)
					t.drive(o, now)
				}
			}
		})
	}
}

func tsStrings(ts []wire.TrafficSelector) []string {
	r := make([]string, len(ts))
	for i, t := range ts {
		r[i] = t.String()
	}
	return r
}

func prefixString(p interface {
	IsValid() bool
	String() string
}) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func addrString(a interface {
	IsValid() bool
	String() string
}) string {
	return prefixString(a)
}

package homeagent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/ike"
)

// FuzzShardReceive feeds arbitrary datagrams to a shard's receive path, as
// the sockets would: routing by SPI, the first-packet Responder, and the
// SAs it creates (whose later messages the fuzzer may also hit, since the
// shard keeps its SAs across inputs). Nothing may panic, and every datagram
// the shard queues must be addressed back to a peer.
func FuzzShardReceive(f *testing.F) {
	rt, err := New(haConfig(), withOptions(haOptions(f), func(o *Options) { o.Device = tuntest.New(1) }))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { rt.dp.Close() })
	s := rt.shards[0]
	s.timer = time.NewTimer(time.Hour)

	// Seeds: a real IKE_SA_INIT request, its IKE_AUTH follow-up, and
	// their mutations.
	local := netip.MustParseAddrPort("[2001:db8:2::100]:500")
	haAddr := netip.MustParseAddrPort("[2001:db8:1::1]:500")
	init, err := ike.NewInitiator(&ike.Config{Credentials: &Credentials{Self: ike.LocalCredential{ID: ike.FQDN("mn.example")},
		AnyPSK: []byte(testPSK)}, Request: ike.CPRequest{IPv6: true}, ForceEncap: true}, ike.Path{Local: local, Remote: haAddr})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	if err := init.Initiate(now); err != nil {
		f.Fatal(err)
	}
	req := init.Ready().Datagrams[0].Payload
	init.Advance()
	f.Add(req, false)
	res := s.responder.Handle(now, ike.Datagram{Local: haAddr, Remote: local, Payload: req})
	if res.SA != nil {
		resp := res.SA.Ready().Datagrams[0]
		init.Receive(now, ike.Datagram{Local: local, Remote: haAddr, Payload: resp.Payload})
		if r := init.Ready(); len(r.Datagrams) > 0 {
			f.Add(r.Datagrams[0].Payload, true)
		}
	}
	f.Add([]byte{}, false)
	f.Add(make([]byte, 28), true)

	f.Fuzz(func(t *testing.T, payload []byte, natt bool) {
		at := time.Now()
		buf := append([]byte(nil), payload...)
		s.receive(inboundMsg{dg: ike.Datagram{Local: haAddr, Remote: local, NATT: natt, Payload: buf}})
		for _, d := range s.out {
			if !d.Remote.IsValid() || len(d.Payload) == 0 {
				t.Fatalf("queued datagram %+v", d)
			}
		}
		clear(s.out)
		s.out = s.out[:0]
		s.expire(at.Add(time.Hour))
		clear(s.out)
		s.out = s.out[:0]
	})
}

package homeagent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
	"github.com/mip6ha/mip6ha/test/lab"
	oteltest "github.com/mip6ha/mip6ha/test/otel"
)

// TestHomeAgentTracesAttach: the spans of an attach reach an OTLP endpoint
// (an in-process receiver listening inside the home agent's host): one per
// IKE exchange (IKE_SA_INIT, IKE_AUTH), the lease acquisition as a child of
// IKE_AUTH (with the store's own span below it), and the Binding Update,
// each from the service mip6ha-homeagent, instance ha1.
func TestHomeAgentTracesAttach(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := haCtx(t, 120*time.Second)
	var rcv *oteltest.Receiver
	if err := inHostNetns(tp.HA1, func() (err error) {
		rcv, err = oteltest.Start()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rcv.Close)
	haAddr := tp.HAAddrs[0].V6
	h := startHomeAgent(t, ctx, tp.HA1, haOptions{identities: []string{"mn.example"}, otlp: rcv.HTTPEndpoint()})
	mn := attachInner(t, ctx, tp.MN, tp.MNAddrs().V6, haAddr, "mn.example")
	mn.tun.Outgoing <- tunnelBU(mn.hoa, haAddr, tp.MNAddrs().V6, 1, netip.Addr{})
	if ba, ok := mn.awaitBA(30 * time.Second); !ok || ba.Status != mh.StatusAccepted {
		t.Fatalf("BA %+v (%v)", ba, ok)
	}

	ours := oteltest.From("mip6ha-homeagent", haMember)
	span := func(name string) oteltest.Span {
		t.Helper()
		s, err := rcv.AwaitSpan(ctx, oteltest.All(ours, oteltest.Named(name)))
		if err != nil {
			t.Fatalf("span %s: %v (received: %d spans)", name, err, len(rcv.Spans()))
		}
		return s
	}
	init := span("IKE_SA_INIT")
	auth := span("IKE_AUTH")
	acquire := span("lease.acquire")
	storeAcquire := span("store.Acquire")
	bu := span("mip6.binding_update")
	if init.Attributes["result"] != "ok" || auth.Attributes["result"] != "ok" {
		t.Errorf("exchange results %v, %v: want ok", init.Attributes["result"], auth.Attributes["result"])
	}
	if acquire.TraceID != auth.TraceID || acquire.ParentSpanID != auth.SpanID {
		t.Errorf("lease.acquire is not a child of IKE_AUTH: %+v", acquire)
	}
	if storeAcquire.ParentSpanID != acquire.SpanID {
		t.Errorf("store.Acquire is not a child of lease.acquire: %+v", storeAcquire)
	}
	if acquire.Attributes["mip6.hoa"] != mn.hoa.String() || acquire.Attributes["ike.identity"] != "ID_FQDN:mn.example" {
		t.Errorf("lease.acquire attributes %v", acquire.Attributes)
	}
	if bu.Attributes["mip6.hoa"] != mn.hoa.String() || bu.Attributes["mip6.status"] != int64(0) {
		t.Errorf("binding update span attributes %v", bu.Attributes)
	}
	h.stop()
}

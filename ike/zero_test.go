package ike

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// Key material is wiped once nothing can need it any more: the keys of an
// IKE SA when it is retired or the SA ends, the KEYMAT of a CHILD_SA when it
// is removed, a D-H private key once its exchange is answered or given up.
// The copies handed to the runtime in ChildOps are the runtime's and are
// never touched.

// keyBytes returns the seven keys of an IKE SA, SK_d first.
func keyBytes(k *ikecrypto.Keys) [][]byte {
	return [][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr}
}

// allZero reports whether every octet of keys is zero.
func allZero(keys ...[]byte) bool {
	for _, k := range keys {
		for _, b := range k {
			if b != 0 {
				return false
			}
		}
	}
	return true
}

// childKeys returns the engine's own KEYMAT slices of a CHILD_SA.
func childKeys(c *child) [][]byte {
	return [][]byte{c.sa.InKey, c.sa.OutKey, c.sa.InIntegKey, c.sa.OutIntegKey}
}

// cloneKeys copies key slices, to compare with later.
func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = slices.Clone(k)
	}
	return out
}

func keysEqual(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// The old IKE SA of a rekey keeps its keys while it may still be asked to
// answer: the responder replays its cached CREATE_CHILD_SA response on it
// when the first copy is lost. Its keys are wiped once it is retired (its
// Delete answered), on both sides; the new IKE SA goes on working.
func TestIKEKeysWipedWhenRetired(t *testing.T) {
	ic, rc, _ := pairConfig(90)
	ic.Retransmit = Retransmit{Timeout: time.Second, Base: 2, Tries: 3}
	p := newPair(t, ic, rc)
	p.establish()
	oldI, oldR := p.i.cur, p.r().cur
	wantI, wantR := cloneKeys(keyBytes(oldI.keys)), cloneKeys(keyBytes(oldR.keys))
	if allZero(wantI...) || allZero(wantR...) {
		t.Fatal("keys of the established IKE SA are zero")
	}

	dropped := false
	p.filter = func(dg Datagram) verdict {
		h, err := wire.ParseHeader(dg.Payload)
		if err == nil && !dropped && h.ExchangeType() == wire.ExchangeCreateChildSA && h.Flags().Response() {
			dropped = true
			return drop
		}
		return deliver
	}
	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	p.run()
	if !dropped || p.r().cur == oldR {
		t.Fatal("the responder did not answer the rekey")
	}
	// The responder moved to the new IKE SA; the old one waits for the
	// initiator, who has not seen the answer and will ask again.
	if !keysEqual(keyBytes(oldR.keys), wantR) || !keysEqual(keyBytes(oldI.keys), wantI) {
		t.Fatal("keys of the replaced IKE SA wiped before it is retired")
	}
	p.runUntil(time.Minute, func() bool {
		return len(eventsOf[IKERetired](p.mn)) == 1 && len(eventsOf[IKERetired](p.ha)) == 1
	})
	if p.r().Stats().Replayed == 0 {
		t.Fatal("the retransmitted rekey request was not answered from the cache")
	}
	if !allZero(keyBytes(oldI.keys)...) || !allZero(keyBytes(oldR.keys)...) {
		t.Error("keys of the retired IKE SA not wiped")
	}
	if allZero(keyBytes(p.i.cur.keys)...) || allZero(keyBytes(p.r().cur.keys)...) {
		t.Fatal("keys of the new IKE SA wiped")
	}
	if err := p.i.RekeyChild(p.now, onlyChild(t, p.i).InSPI); err != nil {
		t.Fatal(err)
	}
	p.run()
	checkOnePair(t, p)
	if len(eventsOf[ChildRekeyed](p.mn)) != 1 {
		t.Fatal("the new IKE SA does not carry a CHILD_SA rekey")
	}
}

// Deleting the IKE SA wipes the keys of every IKE SA and CHILD_SA on both
// sides; the runtime's copies in the ChildOps stay as they were.
func TestKeysWipedWhenIKESADeleted(t *testing.T) {
	ic, rc, _ := pairConfig(91)
	p := newPair(t, ic, rc)
	p.establish()
	i, r := p.i, p.r()
	ikeI, ikeR := i.cur, r.cur
	childI, childR := i.children[0], r.children[0]
	in, out := p.mn.inbound[childI.sa.InSPI], p.mn.outbound[childI.sa.OutSPI]
	runtimeKeys := [][]byte{in.InKey, out.OutKey}
	runtimeWant := cloneKeys(runtimeKeys)
	if allZero(childKeys(childI)...) || allZero(runtimeWant...) {
		t.Fatal("CHILD_SA keys are zero")
	}

	if err := i.Delete(p.now); err != nil {
		t.Fatal(err)
	}
	p.run()
	if !i.Done() || !r.Done() {
		t.Fatal("SA not deleted")
	}
	for side, k := range map[string]*ikecrypto.Keys{"initiator": ikeI.keys, "responder": ikeR.keys} {
		if !allZero(keyBytes(k)...) {
			t.Errorf("%s: IKE SA keys not wiped", side)
		}
	}
	for side, c := range map[string]*child{"initiator": childI, "responder": childR} {
		if !allZero(childKeys(c)...) {
			t.Errorf("%s: CHILD_SA keys not wiped", side)
		}
	}
	if !keysEqual(runtimeKeys, runtimeWant) {
		t.Error("the runtime's copies of the CHILD_SA keys changed")
	}
}

// A CHILD_SA rekeyed away has its KEYMAT wiped once removed; its successor
// and the runtime's copies of the old keys are untouched.
func TestChildKeysWipedWhenRekeyedAway(t *testing.T) {
	ic, rc, _ := pairConfig(92)
	p := newPair(t, ic, rc)
	p.establish()
	old := p.i.children[0]
	oldKeys := cloneKeys(childKeys(old))
	runtimeKey := p.mn.outbound[old.sa.OutSPI].OutKey
	runtimeWant := slices.Clone(runtimeKey)
	if err := p.i.RekeyChild(p.now, old.sa.InSPI); err != nil {
		t.Fatal(err)
	}
	p.run()
	checkOnePair(t, p)
	if old.state != childDeleted {
		t.Fatalf("old CHILD_SA is %v", old.state)
	}
	if !allZero(childKeys(old)...) {
		t.Error("KEYMAT of the rekeyed CHILD_SA not wiped")
	}
	next := p.i.children[0]
	if allZero(childKeys(next)...) || keysEqual(childKeys(next), oldKeys) {
		t.Error("the new CHILD_SA has no fresh keys")
	}
	if !bytes.Equal(runtimeKey, runtimeWant) {
		t.Error("the runtime's copy of the old outbound key changed")
	}
}

// zeroed reports whether a D-H key's private part is gone.
func zeroed(k *ikecrypto.PrivateKey) bool {
	_, err := k.SharedSecret(k.PublicValue())
	return errors.Is(err, ikecrypto.ErrKeyZeroed)
}

// The initiator's IKE_SA_INIT key is destroyed once the shared secret is
// computed; so are the keys of PFS CHILD_SA rekeys and IKE SA rekeys, on
// the answer.
func TestDHKeysZeroedAfterSharedSecret(t *testing.T) {
	ic, rc, _ := pairConfig(93)
	ic.ESPProposals = MustProposals("aes128gcm16-x25519")
	rc.ESPProposals = MustProposals("aes128gcm16-x25519")
	ic.IKEProposals = MustProposals("aes128gcm16-prfsha256-modp2048")
	rc.IKEProposals = MustProposals("aes128gcm16-prfsha256-modp2048-x25519")
	p := newPair(t, ic, rc)
	p.start()
	initKey := p.i.init.dh
	if zeroed(initKey) {
		t.Fatal("IKE_SA_INIT key zeroed before the answer")
	}
	p.runUntil(time.Minute, func() bool { return p.i.State() == StateEstablished })
	if !zeroed(initKey) {
		t.Error("IKE_SA_INIT key not zeroed after IKE_AUTH")
	}

	if err := p.i.RekeyChild(p.now, onlyChild(t, p.i).InSPI); err != nil {
		t.Fatal(err)
	}
	childKey := p.i.cur.pending.ex.(*rekeyChildExchange).dh
	if childKey == nil || zeroed(childKey) {
		t.Fatal("no PFS key in flight")
	}
	p.run()
	if len(eventsOf[ChildRekeyed](p.mn)) != 1 || !zeroed(childKey) {
		t.Errorf("CHILD_SA rekey: %d ChildRekeyed, key zeroed %v", len(eventsOf[ChildRekeyed](p.mn)), zeroed(childKey))
	}

	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	ikeKey := p.i.cur.pending.ex.(*rekeyIKEExchange).dh
	p.run()
	if len(eventsOf[IKERetired](p.mn)) != 1 || !zeroed(ikeKey) {
		t.Errorf("IKE SA rekey: %d IKERetired, key zeroed %v", len(eventsOf[IKERetired](p.mn)), zeroed(ikeKey))
	}
}

// A rekey whose answer never comes destroys its D-H key when
// retransmissions give up; the SA then ends with every key wiped.
func TestDHKeyZeroedWhenRekeyTimesOut(t *testing.T) {
	ic, rc, _ := pairConfig(94)
	ic.ESPProposals = MustProposals("aes128gcm16-x25519")
	rc.ESPProposals = MustProposals("aes128gcm16-x25519")
	ic.Retransmit = Retransmit{Timeout: time.Second, Base: 2, Tries: 2}
	p := newPair(t, ic, rc)
	p.establish()
	ike := p.i.cur
	p.filter = func(Datagram) verdict { return drop }
	if err := p.i.RekeyChild(p.now, onlyChild(t, p.i).InSPI); err != nil {
		t.Fatal(err)
	}
	key := p.i.cur.pending.ex.(*rekeyChildExchange).dh
	p.advance(time.Minute)
	if d := eventsOf[IKEDown](p.mn); len(d) != 1 || d[0].Reason != DownTimeout {
		t.Fatalf("IKEDown %+v", d)
	}
	if !zeroed(key) {
		t.Error("PFS key of the unanswered rekey not zeroed")
	}
	if !allZero(keyBytes(ike.keys)...) {
		t.Error("IKE SA keys not wiped at the timeout")
	}
}

// Close, used at shutdown, wipes the keys while a rekey is in flight too.
func TestCloseWipesKeysOfRequestInFlight(t *testing.T) {
	ic, rc, _ := pairConfig(95)
	p := newPair(t, ic, rc)
	p.establish()
	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	key := p.i.cur.pending.ex.(*rekeyIKEExchange).dh
	ike := p.i.cur
	p.i.Close(p.now)
	if !zeroed(key) || !allZero(keyBytes(ike.keys)...) {
		t.Errorf("after Close: D-H key zeroed %v, IKE SA keys zero %v", zeroed(key), allZero(keyBytes(ike.keys)...))
	}
}

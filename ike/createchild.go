package ike

import (
	"fmt"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// RekeyIKE rekeys the IKE SA (RFC 7296 §1.3.2, §2.18).
func (sa *SA) RekeyIKE(now time.Time) error {
	return fmt.Errorf("%w: IKE SA rekey not implemented yet", ErrState)
}

// RekeyChild rekeys the CHILD_SA whose inbound SPI is inSPI (RFC 7296
// §1.3.3).
func (sa *SA) RekeyChild(now time.Time, inSPI uint32) error {
	return fmt.Errorf("%w: CHILD_SA rekey not implemented yet", ErrState)
}

// respondCreateChild answers a CREATE_CHILD_SA request.
func (sa *SA) respondCreateChild(ike *ikeSA, in *inbound, now time.Time) ([]wire.Payload, func()) {
	return []wire.Payload{&wire.Notify{Type: wire.NotifyNoAdditionalSAs}}, nil
}

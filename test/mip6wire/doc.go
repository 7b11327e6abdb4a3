// Package mip6wire checks, with tshark as an independent decoder, that the
// Mobile IPv6 packets the mip6 packages produce are what the RFCs say:
// every field we set is decoded to the value we set. The tests are in
// mip6wire_test.go; they skip when tshark is not installed.
package mip6wire

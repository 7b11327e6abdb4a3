// Package mip6 implements Mobile IPv6 signalling (RFC 6275, RFC 5142, RFC 4877)
// as sans-I/O state: the home agent's binding cache, the mobile node's binding
// update list and the Home Agent Switch procedure.
package mip6

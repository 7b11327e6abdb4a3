package mip6

// SequenceGreater reports whether sequence number n is greater than last
// modulo 2^16 (RFC 6275 §9.5.1): (n − last) mod 65536 lies in 1..32767. A
// number is "less than or equal" when it is last or one of the 32768
// before it; after last = 15, the numbers 0..15 and 32783..65535 are.
func SequenceGreater(n, last uint16) bool { return int16(n-last) > 0 }

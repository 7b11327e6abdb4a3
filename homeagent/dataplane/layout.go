package dataplane

// Packet buffer layout. Every buffer on the packet path has the same shape, so
// that ESP encapsulation and decapsulation happen in place:
//
//	0          12   16        24     32                          32+n
//	| nonce    | -- | SPI|Seq | IV   | inner IP packet ...       | pad | pl | nh | ICV |
//	 scratch         ^ESPOffset        ^HeadRoom                  \_____ TailRoom _____/
//
// A TUN read lands at HeadRoom; sealing writes the ESP header and IV into the
// head-room and the padding, trailer and ICV into the tail-room, and the UDP
// payload to send is buf[ESPOffset:]. A UDP read lands at ESPOffset; opening
// decrypts in place and the inner packet is again at buf[HeadRoom:]. The first
// 12 octets hold the AEAD nonce (salt ‖ IV) while a packet is sealed or
// opened: cipher.AEAD is an interface, so a nonce on the stack would escape to
// the heap on every call.
const (
	// ESPOffset is where the UDP payload starts in a packet buffer: the ESP
	// header on output, and every received datagram on input.
	ESPOffset = 16

	// HeadRoom is where the inner IP packet starts in a packet buffer.
	HeadRoom = ESPOffset + espHeaderLen + ivLen

	// TailRoom is the space a buffer needs after the inner packet for the ESP
	// trailer (up to 3 octets of padding, Pad Length, Next Header) and the ICV.
	TailRoom = maxPadLen + espTrailerLen + icvLen

	// MaxInnerPacket is the largest inner IP packet a buffer holds.
	MaxInnerPacket = 65535

	// BufferSize is the size of every packet buffer.
	BufferSize = HeadRoom + MaxInnerPacket + TailRoom

	nonceLen      = 12 // salt (4) ‖ IV (8), RFC 4106 §4, RFC 7634 §2
	saltLen       = 4
	espHeaderLen  = 8 // SPI ‖ Sequence Number, RFC 4303 §2
	ivLen         = 8
	icvLen        = 16
	espTrailerLen = 2 // Pad Length ‖ Next Header
	maxPadLen     = 3 // padding to a 4-octet boundary, RFC 4303 §2.4

	// minESPLen is the shortest ESP packet that can carry an (empty) payload.
	minESPLen = espHeaderLen + ivLen + espTrailerLen + icvLen
)

// buffer is one packet buffer (see the layout above).
type buffer [BufferSize]byte

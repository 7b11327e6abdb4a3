package interop

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// IKEKeys are the keys of one IKE SA (RFC 7296 section 2.14) as a charon
// started with CharonOptions.LogKeys logged them, with what is needed to
// decrypt its messages in a capture.
type IKEKeys struct {
	Name     string // connection name ("" if the SA never got one)
	UniqueID uint32 // charon's id of the IKE SA
	// SPIi and SPIr identify the SA on the wire; zero if the log did not
	// tell them.
	SPIi, SPIr uint64
	// Proposal is the negotiated IKE proposal as charon names it
	// ("AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519").
	Proposal string
	// SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr. For AEAD
	// ciphers SKei/SKer include the salt and SKai/SKar are empty.
	SKd, SKai, SKar, SKei, SKer, SKpi, SKpr []byte
}

// maxSecret bounds the length of a logged secret (the longest SK_e is a
// 256-bit key with salt, the longest SK_a/SK_p a SHA-512 output).
const maxSecret = 1024

// ErrKeyLog is wrapped by errors about charon's key log.
var ErrKeyLog = errors.New("interop: IKE keys not found in charon's log")

// IKEKeys returns the keys of every IKE SA charon has derived so far,
// from its log (charon must run with CharonOptions.LogKeys).
func (c *Charon) IKEKeys(ctx context.Context) ([]IKEKeys, error) {
	if !c.opts.LogKeys {
		return nil, fmt.Errorf("%w: charon in %s does not log keys (CharonOptions.LogKeys)", ErrKeyLog, c.host.Name())
	}
	log, err := c.Log()
	if err != nil {
		return nil, err
	}
	return ParseKeyLog(log)
}

// Log lines: "15:04:05 12[IKE] <home|1> message", "... <1> ..." before the
// SA has a name, or no context at all.
var (
	logLine      = regexp.MustCompile(`^\S+ (\d+)\[([A-Z]+)\] (?:<(?:([^|>]*)\|)?(\d+)> )?(.*)$`)
	secretLine   = regexp.MustCompile(`^(Sk_(?:d|ai|ar|ei|er|pi|pr)) secret => (\d+) bytes @ `)
	dumpLine     = regexp.MustCompile(`^\s*\d+: ((?:[0-9A-F]{2} ){1,16})`)
	proposalLine = regexp.MustCompile(`^selected proposal: IKE:(\S+)`)
	stateLine    = regexp.MustCompile(`^IKE_SA (\S+)\[(\d+)\] state change: (\S+) => (\S+)$`)
	checkinLine  = regexp.MustCompile(`^checkin IKEv2 SA (\S+)\[(\d+)\] with SPIs ([0-9a-f]{16})_i ([0-9a-f]{16})_r$`)
)

type logEntry struct {
	thread, group, ctxName string
	ctxID                  uint32
	hasCtx                 bool
	msg                    string
}

func parseLogLine(s string) (logEntry, bool) {
	m := logLine.FindStringSubmatch(s)
	if m == nil {
		return logEntry{}, false
	}
	e := logEntry{thread: m[1], group: m[2], ctxName: m[3], msg: m[5]}
	if m[4] != "" {
		id, err := strconv.ParseUint(m[4], 10, 32)
		if err != nil {
			return logEntry{}, false
		}
		e.ctxID, e.hasCtx = uint32(id), true
	}
	return e, true
}

// ParseKeyLog extracts the IKE SA keys from a charon file log written with
// ike = 4 (the key dumps), cfg = 2 (the selected proposal) and mgr = 2
// (the SPIs at check-in) and ike_name = yes, as StartCharon configures it
// with LogKeys.
//
// Keys are derived in the context of the SA being set up, except when an
// established SA rekeys itself as initiator: its successor's keys are then
// logged in the old SA's context, followed by the successor's state change
// to ESTABLISHED, which names it.
func ParseKeyLog(log string) ([]IKEKeys, error) {
	lines := strings.Split(log, "\n")
	type pending struct {
		keys    map[string][]byte
		ctxID   uint32
		ctxName string
		thread  string
	}
	var (
		out         []IKEKeys
		blocks      = map[string]*pending{} // by thread + context
		proposal    = map[uint32]string{}   // by context SA
		threadProp  = map[string]string{}   // by thread
		established = map[uint32]bool{}
		spis        = map[uint32][2]uint64{}
		names       = map[uint32]string{}
	)
	for i := 0; i < len(lines); i++ {
		e, ok := parseLogLine(lines[i])
		if !ok || !e.hasCtx && e.group != "MGR" {
			continue
		}
		if e.hasCtx && e.ctxName != "" {
			names[e.ctxID] = e.ctxName
		}
		if m := checkinLine.FindStringSubmatch(e.msg); m != nil {
			id, _ := strconv.ParseUint(m[2], 10, 32)
			si, _ := strconv.ParseUint(m[3], 16, 64)
			sr, _ := strconv.ParseUint(m[4], 16, 64)
			if si != 0 && sr != 0 {
				spis[uint32(id)] = [2]uint64{si, sr}
			}
			if m[1] != "(unnamed)" {
				names[uint32(id)] = m[1]
			}
			continue
		}
		if !e.hasCtx {
			continue
		}
		if m := proposalLine.FindStringSubmatch(e.msg); m != nil {
			proposal[e.ctxID] = m[1]
			threadProp[e.thread] = m[1]
			continue
		}
		if m := stateLine.FindStringSubmatch(e.msg); m != nil && m[4] == StateEstablished {
			id, _ := strconv.ParseUint(m[2], 10, 32)
			established[uint32(id)] = true
			continue
		}
		m := secretLine.FindStringSubmatch(e.msg)
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err != nil || n > maxSecret {
			return out, fmt.Errorf("%w: %s of %s bytes at line %d", ErrKeyLog, m[1], m[2], i+1)
		}
		key, next, err := readDump(lines, i+1, n)
		if err != nil {
			return out, fmt.Errorf("%w: %s at line %d: %v", ErrKeyLog, m[1], i+1, err)
		}
		i = next - 1
		bk := e.thread + "/" + strconv.Itoa(int(e.ctxID))
		p := blocks[bk]
		if p == nil {
			p = &pending{keys: map[string][]byte{}, ctxID: e.ctxID, ctxName: e.ctxName, thread: e.thread}
			blocks[bk] = p
		}
		p.keys[m[1]] = key
		if m[1] != "Sk_pr" {
			continue
		}
		delete(blocks, bk)
		// A responder selects the proposal of a rekeyed SA in the old
		// SA's context and derives the keys in the new one's, on the
		// same thread.
		prop, ok := proposal[p.ctxID]
		if !ok {
			prop = threadProp[p.thread]
		}
		k := IKEKeys{
			UniqueID: p.ctxID,
			Proposal: prop,
			SKd:      p.keys["Sk_d"], SKai: p.keys["Sk_ai"], SKar: p.keys["Sk_ar"],
			SKei: p.keys["Sk_ei"], SKer: p.keys["Sk_er"], SKpi: p.keys["Sk_pi"], SKpr: p.keys["Sk_pr"],
		}
		if established[p.ctxID] {
			// A rekeying initiator: the successor is named next.
			k.UniqueID = 0
			for j := next; j < len(lines); j++ {
				f, ok := parseLogLine(lines[j])
				if !ok || f.thread != p.thread || !f.hasCtx || f.ctxID != p.ctxID {
					continue
				}
				if s := stateLine.FindStringSubmatch(f.msg); s != nil && s[3] == StateConnecting && s[4] == StateEstablished {
					id, _ := strconv.ParseUint(s[2], 10, 32)
					k.UniqueID = uint32(id)
					break
				}
			}
			if k.UniqueID == 0 {
				// The successor has not been named (yet): skip.
				continue
			}
		}
		out = append(out, k)
	}
	for i := range out {
		out[i].Name = names[out[i].UniqueID]
		s := spis[out[i].UniqueID]
		out[i].SPIi, out[i].SPIr = s[0], s[1]
	}
	return out, nil
}

// readDump reads n bytes from the hex dump lines that follow a "%B" log
// line, starting at lines[i]; it returns the bytes and the index of the
// first line after the dump.
func readDump(lines []string, i, n int) ([]byte, int, error) {
	b := make([]byte, 0, n)
	for ; len(b) < n && i < len(lines); i++ {
		e, ok := parseLogLine(lines[i])
		if !ok {
			return nil, i, fmt.Errorf("malformed dump line %q", lines[i])
		}
		m := dumpLine.FindStringSubmatch(e.msg)
		if m == nil {
			return nil, i, fmt.Errorf("dump ends after %d of %d bytes", len(b), n)
		}
		h, err := hex.DecodeString(strings.ReplaceAll(m[1], " ", ""))
		if err != nil {
			return nil, i, err
		}
		b = append(b, h...)
	}
	if len(b) != n {
		return nil, i, fmt.Errorf("dump has %d bytes, want %d", len(b), n)
	}
	return b, i, nil
}

// WiresharkUAT renders the keys as one record of Wireshark's
// ikev2_decryption_table: SPIi, SPIr, SK_ei, SK_er, encryption algorithm,
// SK_ai, SK_ar, integrity algorithm.
func (k IKEKeys) WiresharkUAT() (string, error) {
	if k.SPIi == 0 || k.SPIr == 0 {
		return "", fmt.Errorf("%w: SPIs of IKE SA #%d unknown", ErrKeyLog, k.UniqueID)
	}
	encr, integ, err := wiresharkAlgorithms(k.Proposal)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%016x,%016x,%x,%x,%q,%x,%x,%q", k.SPIi, k.SPIr, k.SKei, k.SKer, encr, k.SKai, k.SKar, integ), nil
}

// TsharkDecryptArgs returns tshark options that decrypt the IKE messages
// of these SAs (-o uat:ikev2_decryption_table:... per SA). SAs whose SPIs
// are unknown are left out.
func TsharkDecryptArgs(keys []IKEKeys) ([]string, error) {
	var args []string
	for _, k := range keys {
		if k.SPIi == 0 || k.SPIr == 0 {
			continue
		}
		rec, err := k.WiresharkUAT()
		if err != nil {
			return nil, err
		}
		args = append(args, "-o", "uat:ikev2_decryption_table:"+rec)
	}
	return args, nil
}

var (
	aesMode = regexp.MustCompile(`^AES_(CBC|CTR)_(128|192|256)$`)
	aesAEAD = regexp.MustCompile(`^AES_(GCM|CCM)_(8|12|16)_(128|192|256)$`)
)

// wiresharkAlgorithms maps a strongSwan IKE proposal to Wireshark's names
// of its encryption and integrity algorithms.
func wiresharkAlgorithms(proposal string) (encr, integ string, err error) {
	parts := strings.Split(proposal, "/")
	if len(parts) < 2 {
		return "", "", fmt.Errorf("%w: proposal %q", ErrKeyLog, proposal)
	}
	switch e := parts[0]; {
	case aesMode.MatchString(e):
		m := aesMode.FindStringSubmatch(e)
		rfc := map[string]string{"CBC": "RFC3602", "CTR": "RFC5930"}[m[1]]
		encr = fmt.Sprintf("AES-%s-%s [%s]", m[1], m[2], rfc)
	case aesAEAD.MatchString(e):
		m := aesAEAD.FindStringSubmatch(e)
		encr = fmt.Sprintf("AES-%s-%s with %s octet ICV [RFC5282]", m[1], m[3], m[2])
	case e == "3DES_CBC":
		encr = "3DES [RFC2451]"
	default:
		return "", "", fmt.Errorf("%w: Wireshark cannot decrypt %s", ErrKeyLog, e)
	}
	integ = "NONE [RFC4306]"
	switch i := parts[1]; i {
	case "HMAC_SHA2_256_128", "HMAC_SHA2_384_192", "HMAC_SHA2_512_256":
		integ = i + " [RFC4868]"
	case "HMAC_SHA1_96":
		integ = i + " [RFC2404]"
	case "HMAC_MD5_96":
		integ = i + " [RFC2403]"
	default:
		if !strings.HasPrefix(i, "PRF_") {
			return "", "", fmt.Errorf("%w: Wireshark cannot check %s", ErrKeyLog, i)
		}
	}
	return encr, integ, nil
}

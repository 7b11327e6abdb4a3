package vici

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Element types of the vici message encoding.
const (
	elemSectionStart = 1
	elemSectionEnd   = 2
	elemKeyValue     = 3
	elemListStart    = 4
	elemListItem     = 5
	elemListEnd      = 6
)

// Errors of the codec. Parse errors wrap ErrMalformed.
var (
	ErrMalformed = errors.New("vici: malformed message")
	ErrTooLarge  = errors.New("vici: value or name too large to encode")
	ErrBadValue  = errors.New("vici: unsupported value type")
)

// maxDepth bounds section nesting; strongSwan's deepest messages
// (list-sas: SA, child-sas, child) are four levels deep.
const maxDepth = 64

// Message is a vici message: an ordered set of named elements, each a
// value (string), a list of strings ([]string) or a section (*Message).
// The zero value is an empty message ready to use.
type Message struct {
	keys []string
	vals map[string]any
}

// NewMessage returns an empty message.
func NewMessage() *Message { return &Message{} }

// Set adds or replaces the element key. v must be a string, []string or
// *Message; a new key goes to the end, a replaced one keeps its place.
func (m *Message) Set(key string, v any) error {
	switch v.(type) {
	case string, []string, *Message:
	default:
		return fmt.Errorf("%w: %T for %q", ErrBadValue, v, key)
	}
	if m.vals == nil {
		m.vals = map[string]any{}
	}
	if _, ok := m.vals[key]; !ok {
		m.keys = append(m.keys, key)
	}
	m.vals[key] = v
	return nil
}

// Keys returns the element names in message order.
func (m *Message) Keys() []string {
	if m == nil {
		return nil
	}
	return append([]string(nil), m.keys...)
}

// Get returns the element key: a string, []string, *Message, or nil.
func (m *Message) Get(key string) any {
	if m == nil {
		return nil
	}
	return m.vals[key]
}

// String returns the value of key, "" if absent or not a value.
func (m *Message) String(key string) string {
	s, _ := m.Get(key).(string)
	return s
}

// List returns the list key, nil if absent or not a list.
func (m *Message) List(key string) []string {
	l, _ := m.Get(key).([]string)
	return l
}

// Section returns the section key, nil if absent or not a section.
func (m *Message) Section(key string) *Message {
	s, _ := m.Get(key).(*Message)
	return s
}

// Append encodes the message onto b.
func (m *Message) Append(b []byte) ([]byte, error) {
	if m == nil {
		return b, nil
	}
	for _, k := range m.keys {
		if len(k) > 255 {
			return b, fmt.Errorf("%w: name %.20q... has %d bytes", ErrTooLarge, k, len(k))
		}
		switch v := m.vals[k].(type) {
		case string:
			if len(v) > 65535 {
				return b, fmt.Errorf("%w: value of %q has %d bytes", ErrTooLarge, k, len(v))
			}
			b = append(b, elemKeyValue, byte(len(k)))
			b = append(b, k...)
			b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
			b = append(b, v...)
		case []string:
			b = append(b, elemListStart, byte(len(k)))
			b = append(b, k...)
			for _, item := range v {
				if len(item) > 65535 {
					return b, fmt.Errorf("%w: item of %q has %d bytes", ErrTooLarge, k, len(item))
				}
				b = append(b, elemListItem)
				b = binary.BigEndian.AppendUint16(b, uint16(len(item)))
				b = append(b, item...)
			}
			b = append(b, elemListEnd)
		case *Message:
			b = append(b, elemSectionStart, byte(len(k)))
			b = append(b, k...)
			var err error
			if b, err = v.Append(b); err != nil {
				return b, err
			}
			b = append(b, elemSectionEnd)
		}
	}
	return b, nil
}

// Parse decodes a vici message. A name repeated within one section keeps
// its first place and its last value.
func Parse(b []byte) (*Message, error) {
	root := &Message{}
	stack := []*Message{root}
	var list []string
	var listName string
	inList := false
	for off := 0; off < len(b); {
		typ := b[off]
		at := off
		off++
		cur := stack[len(stack)-1]
		if inList && typ != elemListItem && typ != elemListEnd {
			return nil, fmt.Errorf("%w: element type %d inside list %q at offset %d", ErrMalformed, typ, listName, at)
		}
		switch typ {
		case elemSectionStart, elemListStart, elemKeyValue:
			name, n, err := name8(b, off)
			if err != nil {
				return nil, fmt.Errorf("%w at offset %d", err, at)
			}
			off += n
			switch typ {
			case elemSectionStart:
				if len(stack) >= maxDepth {
					return nil, fmt.Errorf("%w: sections nested deeper than %d at offset %d", ErrMalformed, maxDepth, at)
				}
				s := &Message{}
				cur.Set(name, s)
				stack = append(stack, s)
			case elemListStart:
				inList, listName, list = true, name, []string{}
			case elemKeyValue:
				v, n, err := value16(b, off)
				if err != nil {
					return nil, fmt.Errorf("%w in value of %q at offset %d", err, name, at)
				}
				off += n
				cur.Set(name, v)
			}
		case elemSectionEnd:
			if len(stack) == 1 {
				return nil, fmt.Errorf("%w: section end without start at offset %d", ErrMalformed, at)
			}
			stack = stack[:len(stack)-1]
		case elemListItem:
			if !inList {
				return nil, fmt.Errorf("%w: list item outside a list at offset %d", ErrMalformed, at)
			}
			v, n, err := value16(b, off)
			if err != nil {
				return nil, fmt.Errorf("%w in list %q at offset %d", err, listName, at)
			}
			off += n
			list = append(list, v)
		case elemListEnd:
			if !inList {
				return nil, fmt.Errorf("%w: list end without start at offset %d", ErrMalformed, at)
			}
			cur.Set(listName, list)
			inList, list = false, nil
		default:
			return nil, fmt.Errorf("%w: unknown element type %d at offset %d", ErrMalformed, typ, at)
		}
	}
	if inList {
		return nil, fmt.Errorf("%w: list %q not terminated", ErrMalformed, listName)
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("%w: %d sections not terminated", ErrMalformed, len(stack)-1)
	}
	return root, nil
}

func name8(b []byte, off int) (string, int, error) {
	if off >= len(b) {
		return "", 0, fmt.Errorf("%w: missing name length", ErrMalformed)
	}
	n := int(b[off])
	if len(b)-off-1 < n {
		return "", 0, fmt.Errorf("%w: name runs past the end", ErrMalformed)
	}
	return string(b[off+1 : off+1+n]), 1 + n, nil
}

func value16(b []byte, off int) (string, int, error) {
	if len(b)-off < 2 {
		return "", 0, fmt.Errorf("%w: missing value length", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(b[off:]))
	if len(b)-off-2 < n {
		return "", 0, fmt.Errorf("%w: value runs past the end", ErrMalformed)
	}
	return string(b[off+2 : off+2+n]), 2 + n, nil
}

// Format renders the message as swanctl --raw does, for logs and errors:
// name {key=value list=[a b] section {...}}.
func (m *Message) Format() string {
	var sb strings.Builder
	m.format(&sb)
	return sb.String()
}

func (m *Message) format(sb *strings.Builder) {
	sb.WriteByte('{')
	for i, k := range m.Keys() {
		if i > 0 {
			sb.WriteByte(' ')
		}
		switch v := m.vals[k].(type) {
		case string:
			fmt.Fprintf(sb, "%s=%s", k, v)
		case []string:
			fmt.Fprintf(sb, "%s=[%s]", k, strings.Join(v, " "))
		case *Message:
			sb.WriteString(k)
			sb.WriteByte(' ')
			v.format(sb)
		}
	}
	sb.WriteByte('}')
}

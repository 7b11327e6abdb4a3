package wire

import "strconv"

// name returns the registry name of v from names, or kind(v) for a value the
// table does not list.
func name[T ~uint8 | ~uint16](names map[T]string, v T, kind string) string {
	if s, ok := names[v]; ok {
		return s
	}
	return kind + "(" + strconv.Itoa(int(v)) + ")"
}

// orNil returns nil for an empty view, so that parsed values compare equal
// (reflect.DeepEqual) with values built from literals.
func orNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

package mh

import (
	"bytes"
	"slices"
)

// optionList is the options of an area without padding, for comparing
// messages whose padding differs.
func optionList(o Options) []Option {
	var l []Option
	for opt := range o.All() {
		l = append(l, opt)
	}
	return l
}

func equalOptions(a, b Options) bool {
	return slices.EqualFunc(optionList(a), optionList(b), func(x, y Option) bool {
		return x.Type == y.Type && bytes.Equal(x.Data, y.Data)
	})
}

// equalMessages compares two messages field by field, options by their
// list without padding.
func equalMessages(a, b Message) bool {
	switch x := a.(type) {
	case BindingUpdate:
		y, ok := b.(BindingUpdate)
		return ok && x.Sequence == y.Sequence && x.Flags == y.Flags && x.Lifetime == y.Lifetime && equalOptions(x.Options, y.Options)
	case BindingAck:
		y, ok := b.(BindingAck)
		return ok && x.Status == y.Status && x.Flags == y.Flags && x.Sequence == y.Sequence && x.Lifetime == y.Lifetime && equalOptions(x.Options, y.Options)
	case BindingError:
		y, ok := b.(BindingError)
		return ok && x.Status == y.Status && x.HoA == y.HoA && equalOptions(x.Options, y.Options)
	case BindingRefreshRequest:
		y, ok := b.(BindingRefreshRequest)
		return ok && equalOptions(x.Options, y.Options)
	case HomeAgentSwitch:
		y, ok := b.(HomeAgentSwitch)
		return ok && slices.Equal(x.Addresses, y.Addresses) && equalOptions(x.Options, y.Options)
	case HomeTestInit:
		y, ok := b.(HomeTestInit)
		return ok && x.Cookie == y.Cookie && equalOptions(x.Options, y.Options)
	case CareOfTestInit:
		y, ok := b.(CareOfTestInit)
		return ok && x.Cookie == y.Cookie && equalOptions(x.Options, y.Options)
	case HomeTest:
		y, ok := b.(HomeTest)
		return ok && x.NonceIndex == y.NonceIndex && x.Cookie == y.Cookie && x.KeygenToken == y.KeygenToken && equalOptions(x.Options, y.Options)
	case CareOfTest:
		y, ok := b.(CareOfTest)
		return ok && x.NonceIndex == y.NonceIndex && x.Cookie == y.Cookie && x.KeygenToken == y.KeygenToken && equalOptions(x.Options, y.Options)
	}
	return false
}

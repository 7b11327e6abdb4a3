// Package vici is a small client of strongSwan's vici protocol (the
// versatile IKE control interface, src/libcharon/plugins/vici/README.md in
// strongSwan): the message codec and a session that sends commands,
// receives streamed events (list-sas) and listens for events (ike-updown,
// child-rekey, ...). The interop harness uses it to read SA state without
// parsing swanctl's text output.
//
//	c, err := vici.Dial(ctx, "/tmp/m6-.../charon.vici")
//	...
//	_, err = c.StreamedRequest(ctx, "list-sas", "list-sa", nil, func(m *vici.Message) error {
//		for _, name := range m.Keys() {
//			fmt.Println(name, m.Section(name).String("state"))
//		}
//		return nil
//	})
package vici

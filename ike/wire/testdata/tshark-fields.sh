#!/bin/sh
# Regenerates the *.tshark golden files: the fields tshark 4.0.17 (Debian 12)
# decodes from the sample captures, one tab-separated row per IKE message
# with a header row of field names; repeated fields are joined with ",".
# The informational capture is decrypted with the keys in its .uat file.
# Run from this directory: sh tshark-fields.sh
set -eu
home=$(mktemp -d)
mkdir -p "$home/.config/wireshark"
cp ikev2-redirect-informational.uat "$home/.config/wireshark/ikev2_decryption_table"
for f in ikev2-redirect-ike-sa-init ikev2-redirect-informational; do
	HOME=$home tshark -r $f.pcap -Y isakmp -T fields -E header=y -E separator=/t \
		-E occurrence=a -E aggregator=, \
		-e frame.number -e udp.srcport -e udp.dstport \
		-e isakmp.ispi -e isakmp.rspi -e isakmp.nextpayload -e isakmp.exchangetype \
		-e isakmp.flags -e isakmp.messageid -e isakmp.length -e isakmp.typepayload \
		-e isakmp.notify.msgtype -e isakmp.notify.data \
		-e isakmp.notify.data.redirect.gw_ident.type \
		-e isakmp.notify.data.redirect.new_resp_gw_ident.ipv6 \
		-e isakmp.notify.data.redirect.nonce_data \
		-e isakmp.notify.data.redirect.org_resp_gw_ident.ipv6 \
		-e isakmp.nonce -e isakmp.key_exchange.dh_group -e isakmp.key_exchange.data \
		-e isakmp.prop.number -e isakmp.prop.protoid -e isakmp.tf.type \
		-e isakmp.tf.id.encr -e isakmp.tf.id.prf -e isakmp.tf.id.integ -e isakmp.tf.id.dh \
		-e isakmp.tf.id.esn -e isakmp.ike2.attr.key_length \
		-e isakmp.notify.data.signature_hash_algorithms \
		-e isakmp.enc.pad_length -e isakmp.id.type -e isakmp.id.data.fqdn \
		-e isakmp.auth.method -e isakmp.auth.data \
		-e isakmp.ts.type -e isakmp.ts.protoid -e isakmp.ts.start_port -e isakmp.ts.end_port \
		-e isakmp.ts.start_ipv6 -e isakmp.ts.end_ipv6 -e isakmp.delete.protoid \
		2>/dev/null >$f.tshark
done
rm -rf "$home"

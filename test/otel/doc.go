// Package oteltest receives OpenTelemetry traces inside a test process so
// that tests can assert the spans the home agent and the mobile node
// client export.
//
// [NewReceiver] starts an OTLP receiver on loopback ports (OTLP/HTTP with
// protobuf or JSON bodies, and OTLP/gRPC). Point telemetry.Config at it,
// run the code under test, then wait for what should arrive:
//
//	rcv := oteltest.NewReceiver(t)
//	tel, _ := telemetry.Setup(ctx, telemetry.Config{
//		ServiceName: "mip6ha-homeagent", OTLPEndpoint: rcv.HTTPEndpoint(), Insecure: true,
//		ExportDelay: 50 * time.Millisecond,
//	})
//	...
//	span, err := rcv.AwaitSpan(ctx, oteltest.All(oteltest.Named("IKE_AUTH"), oteltest.From("mip6ha-homeagent", "ha1")))
//
// Spans are flattened with their resource ([Span]); [CheckTrace] checks
// that a set of spans is one well-linked trace. [DecodeJSON] reads OTLP/JSON
// (hex IDs), which is also what Jaeger's /api/v3 query API returns, so the
// Jaeger harness (test/jaegercheck) asserts with the same types.
package oteltest

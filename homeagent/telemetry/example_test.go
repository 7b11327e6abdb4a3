package telemetry_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/telemetry"
)

// A home agent sets telemetry up once, hands the parts to its runtime, and
// continues the trace that a mobile node sent in its TRACE_CONTEXT notify.
func Example() {
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.Config{
		ServiceName:     "mip6ha-homeagent",
		ServiceInstance: "ha1",
		// OTLPEndpoint: "127.0.0.1:4318", Insecure: true, to export spans.
		LogFormat: telemetry.LogJSON,
		LogOutput: os.Stdout,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(ctx)

	// The data of a received TRACE_CONTEXT notify.
	notify := []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	ctx, err = telemetry.ContextWithTraceparent(ctx, notify)
	if err != nil {
		tel.Logger().Debug("ignoring TRACE_CONTEXT", "err", err)
	}
	ctx, span := tel.TracerProvider().Tracer(telemetry.ScopeName).Start(ctx, "IKE_AUTH")
	defer span.End()

	tel.Metrics().RecordIKEExchange(ctx, "IKE_AUTH", telemetry.ResultOK)
	tel.Metrics().AddIKESAs(ctx, 1)

	// Tracing is off here, so the span is a no-op that carries the mobile
	// node's trace along: log lines and the lease record name its trace.
	lease := telemetry.Traceparent(ctx)
	fmt.Println(strings.HasPrefix(lease, "00-4bf92f3577b34da6a3ce929d0e0e4736-"))
	fmt.Println(trace.SpanContextFromContext(ctx).IsRemote())
	// Output:
	// true
	// true
}

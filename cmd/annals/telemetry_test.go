package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otelVars are the variables tracingFromEnv reads.
var otelVars = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
}

func TestTracingFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    tracingConfig
		wantErr string
	}{
		{name: "unset: off", env: nil},
		{name: "none: off", env: map[string]string{"OTEL_TRACES_EXPORTER": "none"}},
		{name: "none wins over an endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}},
		{name: "disabled wins", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "disabled=false", env: map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, want: tracingConfig{exporters: []string{"otlp"}, protocol: "http/protobuf"}},
		{name: "otlp", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: tracingConfig{exporters: []string{"otlp"}, protocol: "http/protobuf"}},
		{name: "endpoint alone", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: tracingConfig{exporters: []string{"otlp"}, protocol: "http/protobuf"}},
		{name: "traces endpoint alone", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, want: tracingConfig{exporters: []string{"otlp"}, protocol: "http/protobuf"}},
		{name: "grpc", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, want: tracingConfig{exporters: []string{"otlp"}, protocol: "grpc"}},
		{name: "traces protocol first", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, want: tracingConfig{exporters: []string{"otlp"}, protocol: "http/protobuf"}},
		{name: "console", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, want: tracingConfig{exporters: []string{"console"}}},
		{name: "stdout is console", env: map[string]string{"OTEL_TRACES_EXPORTER": "stdout"}, want: tracingConfig{exporters: []string{"console"}}},
		{name: "both, once each", env: map[string]string{"OTEL_TRACES_EXPORTER": " OTLP , console,otlp"}, want: tracingConfig{exporters: []string{"otlp", "console"}, protocol: "http/protobuf"}},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: `unknown exporter "zipkin"`},
		{name: "unsupported protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: `"http/json" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tracingFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a usage error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
			if got.enabled() != (len(tt.want.exporters) > 0) {
				t.Errorf("enabled = %t", got.enabled())
			}
		})
	}
}

// clearOTel unsets every OTEL_* variable the SDK reads for the test.
func clearOTel(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

func TestNewTracerProviderConsole(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		wantService string
		wantSpan    bool
	}{
		{name: "defaults", wantService: `"annals"`, wantSpan: true},
		{name: "service name from env", env: map[string]string{"OTEL_SERVICE_NAME": "ledger"}, wantService: `"ledger"`, wantSpan: true},
		{name: "sampler from env", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTel(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			tp, err := newTracerProvider(context.Background(), tracingConfig{exporters: []string{exporterConsole}}, &out)
			if err != nil {
				t.Fatal(err)
			}
			_, span := tp.Tracer("test").Start(context.Background(), "probe-span")
			span.End()
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(out.String(), "probe-span"); got != tt.wantSpan {
				t.Fatalf("span exported = %t, want %t; output: %s", got, tt.wantSpan, out.String())
			}
			if tt.wantSpan && !strings.Contains(out.String(), tt.wantService) {
				t.Errorf("output lacks service name %s: %s", tt.wantService, out.String())
			}
		})
	}
}

// The OTLP exporters are built without connecting: nothing dials before
// the first export, and a provider that exported nothing shuts down
// without the network.
func TestNewTracerProviderOTLP(t *testing.T) {
	for _, protocol := range []string{protocolHTTP, protocolGRPC} {
		t.Run(protocol, func(t *testing.T) {
			clearOTel(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9") // discard port: never dialled
			tp, err := newTracerProvider(context.Background(), tracingConfig{exporters: []string{exporterOTLP}, protocol: protocol}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInstallTracingOffInstallsNothing(t *testing.T) {
	before := otel.GetTracerProvider()
	stop, err := installTracing(context.Background(), tracingConfig{}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if otel.GetTracerProvider() != before {
		t.Errorf("the global tracer provider changed with tracing off")
	}
}

// installTracing with the environment asking for the console exporter
// installs an SDK provider as the global one, which the shutdown
// flushes. It runs in a child process: the global provider cannot be
// uninstalled, and other tests serve in this one.
func TestInstallTracingFromEnv(t *testing.T) {
	if os.Getenv("ANNALS_TEST_INSTALL_TRACING") == "1" {
		installTracingChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstallTracingFromEnv$")
	cmd.Env = append(os.Environ(), "ANNALS_TEST_INSTALL_TRACING=1", "OTEL_TRACES_EXPORTER=console", "OTEL_SERVICE_NAME=child-service", "OTEL_SDK_DISABLED=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{"global provider: *trace.TracerProvider", `"child-service"`, "child-span"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

func installTracingChild() {
	c, err := tracingFromEnv(os.Getenv)
	if err != nil {
		fmt.Println("config:", err)
		os.Exit(2)
	}
	stop, err := installTracing(context.Background(), c, os.Stdout, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println("install:", err)
		os.Exit(2)
	}
	tp := otel.GetTracerProvider()
	if _, ok := tp.(*sdktrace.TracerProvider); ok {
		fmt.Printf("global provider: %T\n", tp)
	}
	_, span := tp.Tracer("child").Start(context.Background(), "child-span")
	span.End()
	stop()
}

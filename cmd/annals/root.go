package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line was wrong
)

// errUsage marks errors in how the command was called.
var errUsage = errors.New("usage")

// run executes the command line and returns the exit code. It is main
// without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	root := &cobra.Command{
		Use:           "annals",
		Short:         "annals is an event store on MongoDB",
		Long:          "annals is an event store for Go applications on MongoDB, with an HTTP API.\nEvery flag can also be set with an ANNALS_* environment variable; flags win.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v", errUsage, err)
	})
	root.AddCommand(serveCommand(getenv))
	root.AddCommand(operateCommands(getenv)...)
	useFlagUsages(root)
	cmd, err := root.ExecuteContextC(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage) || strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag"):
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "annals: %s\nRun '%s --help' for usage.\n", userMessage(err), cmd.CommandPath())
		return exitUsage
	default:
		fmt.Fprintf(stderr, "annals: %s\n", userMessage(err))
		return exitError
	}
}

// packagePrefixes are the Go package names library errors start with;
// users are shown the message without them.
var packagePrefixes = []string{"mongostore: ", "projections: ", "server: ", "engine: "}

// userMessage is err's text without Go package names: at its start and
// after each ": " or line break.
func userMessage(err error) string {
	msg := err.Error()
	for _, p := range packagePrefixes {
		msg = strings.TrimPrefix(msg, p)
		msg = strings.ReplaceAll(msg, ": "+p, ": ")
		msg = strings.ReplaceAll(msg, "\n"+p, "\n")
	}
	return msg
}

// envDefaults sets every flag not given on the command line from its
// ANNALS_* environment variable (--read-token is ANNALS_READ_TOKEN).
func envDefaults(flags *pflag.FlagSet, getenv func(string) string) error {
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		key := "ANNALS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := getenv(key)
		if v == "" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			if err := sv.Replace(strings.Split(v, ",")); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %v", errUsage, key, err))
			}
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s=%q: %v", errUsage, key, v, err))
		}
	})
	return errors.Join(errs...)
}

package main

import (
	"fmt"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// addTemplateFuncs registers flagUsages with cobra, whose template
// functions are global: once, so that runs in parallel do not race.
var addTemplateFuncs = sync.OnceFunc(func() { cobra.AddTemplateFunc("flagUsages", flagUsages) })

// useFlagUsages makes root's help list flags with flagUsages.
func useFlagUsages(root *cobra.Command) {
	addTemplateFuncs()
	tmpl := root.UsageTemplate()
	tmpl = strings.ReplaceAll(tmpl, "{{.LocalFlags.FlagUsages", "{{flagUsages .LocalFlags")
	tmpl = strings.ReplaceAll(tmpl, "{{.InheritedFlags.FlagUsages", "{{flagUsages .InheritedFlags")
	root.SetUsageTemplate(tmpl)
}

// flagUsages lists flags as pflag does, except that a boolean flag reads
// "--json", not "--json[=true|false]": it is given or not.
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ flag, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "      --" + f.Name
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			name = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() != "bool" && varname != "" {
			name += " " + varname
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" && f.DefValue != "0s" {
			if f.Value.Type() == "string" {
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		rows = append(rows, row{name, usage})
		width = max(width, len(name))
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s   %s\n", width, r.flag, r.usage)
	}
	return b.String()
}

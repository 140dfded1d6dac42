// Command realc compiles RL recipes for LLM judges into trainers, and offers the
// pieces of the runtime (tokenizers, models, data, metrics) as subcommands.
//
// Each area registers its subcommands from its own file (cmd/realc/<area>.go)
// with register, so that the areas never edit the same file.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/realc-project/realc/internal/suggest"
)

// command is one subcommand: `realc NAME args...`.
type command struct {
	name    string
	summary string // one line for `realc help`
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*command{}

// register adds a subcommand; it is called from init functions.
func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("realc: subcommand registered twice: " + name)
	}
	commands[name] = &command{name: name, summary: summary, run: run}
}

// usageError marks an error in how realc was called (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usagef returns a usage error: wrong flags, arguments or subcommand.
func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "realc: unknown subcommand %q%s; run 'realc help' for the list\n", args[0], suggestCommand(args[0]))
		return 2
	}
	if err := cmd.run(args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "realc %s: %v\n", cmd.name, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "realc: a compiler of RL recipes for LLM judges.\n\nUsage: realc SUBCOMMAND [flags] [args]\n\nSubcommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
}

// suggestCommand names the closest known subcommand, if one is close.
func suggestCommand(name string) string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	return suggest.Hint(name, names, 2)
}
